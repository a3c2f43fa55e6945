"""Typed variable declarations: the non-finite rule of a variable (:class:`Nonfinite`), the one function
that applies it (:func:`isingvar.io.schema.allowed`), and the order of the variables a file holds.

References: the rule's definition written out point by point here (finite always; NaN where the rule
says; -inf only at beta = 0; +inf never), and the variable order of the files written before the
declarations were typed (schema version 4).
"""

import numpy as np
import pytest

from isingvar.io import schema as io_schema
from isingvar.methods import derived_variables, get_method
from isingvar.methods.base import Nonfinite, Var

NAN, FLAGGED, INF0 = Nonfinite.NAN, Nonfinite.NAN_WHERE_FLAGGED, Nonfinite.NEG_INF_AT_BETA0

#: The file's variables of each method in their order in every schema-4 file (before typed flags; since
#: then exact adds F_dw_exact, the torus path's domain-wall free energy, after E0_exact).
FILE_ORDER = {
    "exact": ["lnZ_exact", "f_exact", "u_exact", "s_exact", "c_exact", "m_exact", "m2_exact", "absm_exact",
              "chi_exact", "lnZ_model_exact", "E0_exact", "F_dw_exact", "m_exact_site", "exact_path", "exact_status"],
    "mf": ["lnZ_mf_lower", "f_mf_upper", "u_mf", "s_mf", "m_mf", "mf_iterations", "mf_converged", "m_mf_site",
           "lnZ_model_mf_lower", "mf_clamp"],
    "trw": ["lnZ_trw_upper", "f_trw_lower", "trw_iterations", "trw_converged", "trw_trees", "lnZ_model_trw_upper",
            "trw_width", "trw_clamp", "trw_field_split"],
}


@pytest.mark.parametrize("method", sorted(FILE_ORDER))
def test_variables_keep_the_order_of_the_files(method):
    assert [v.name for v in get_method(method).variables] == FILE_ORDER[method]
    # and the schema of a sweep lists them in that order, each method's block as declared
    names = list(io_schema.schema((method,)))
    assert names[:len(FILE_ORDER[method])] == FILE_ORDER[method]


def reference(rule, value, beta0, flagged):
    """Whether one value may be stored under ``rule``, from the rule's definition."""
    if np.isfinite(value):
        return True
    if np.isnan(value):
        return NAN in rule or (FLAGGED in rule and flagged)
    return value == -np.inf and INF0 in rule and beta0


RULES = [Nonfinite.NEVER, NAN, FLAGGED, INF0, NAN | INF0, FLAGGED | INF0]


@pytest.mark.parametrize("rule", RULES, ids=str)
def test_allowed_applies_each_rule_point_by_point(rule):
    beta = np.array([0.0, 0.5, 2.0])
    values = [1.5, np.nan, -np.inf, np.inf]
    for flagged in (np.array([False, True, False]), np.array([True, False, True])):
        for site in (False, True):
            dims = ("sample", "J", "h", "beta") + (("site",) if site else ())
            var = io_schema.Variable(dims, "f8", "", "", nonfinite=rule)
            for x in values:
                value = np.full((3, 2), x) if site else np.full(3, x)
                got = io_schema.allowed(var, value, beta, flagged)
                want = np.array([reference(rule, x, b == 0, fl) for b, fl in zip(beta, flagged, strict=True)])
                np.testing.assert_array_equal(got, np.broadcast_to(want[:, None] if site else want, value.shape),
                                              err_msg=f"{rule} {x} {site}")
                # with no status known, NAN_WHERE_FLAGGED allows no NaN
                unknown = np.array([reference(rule, x, b == 0, False) for b in beta])
                got = io_schema.allowed(var, value, beta, None)
                np.testing.assert_array_equal(got, np.broadcast_to(unknown[:, None] if site else unknown, value.shape))
    # -inf at beta = 0 needs a beta axis: a per-instance variable has none
    var = io_schema.Variable(("sample", "J", "h"), "f8", "", "", nonfinite=rule)
    assert io_schema.allowed(var, np.array(-np.inf), beta) == False
    assert io_schema.needs_flags(var) == (FLAGGED in rule)


def test_a_rule_is_typed_and_consistent():
    with pytest.raises(TypeError, match="Nonfinite"):
        Var("x_toy", "estimate", "x", "1", "a string rule", nonfinite="nan")
    with pytest.raises(ValueError, match="NAN already allows NaN"):
        Var("x_toy", "estimate", "x", "1", "both NaN rules", nonfinite=NAN | FLAGGED)
    assert Var("x_toy", "estimate", "x", "1", "default").nonfinite is Nonfinite.NEVER


def test_each_variable_keeps_its_rule_and_kl_follows_its_bound():
    rules = {name: v.nonfinite for name, v in io_schema.schema(("exact", "mf", "trw", "ar", "bethe")).items()}
    assert rules["f_exact"] == FLAGGED | INF0 and rules["lnZ_exact"] == FLAGGED and rules["E0_exact"] == NAN
    assert rules["f_mf_upper"] == INF0 and rules["lnZ_mf_lower"] == Nonfinite.NEVER
    assert rules["f_trw_lower"] == INF0 and rules["f_bethe"] == FLAGGED | INF0
    assert rules["f_ar_upper"] == NAN | INF0 and rules["f_ar_is"] == FLAGGED | INF0
    assert rules["lnZ_model_exact"] == NAN and rules["done"] == Nonfinite.NEVER
    kl = {v.name: v.nonfinite for v, _ in derived_variables(("exact", "ar", "mf"))}
    assert kl == {"kl_ar": NAN, "kl_mf": FLAGGED}  # a bound NaN for large N; else NaN only where exact is
