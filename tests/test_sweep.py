import numpy as np
import pytest

from isingvar.errors import GridError, RangeSpecError, TooLargeError
from isingvar.sweep import make_config, parse_range


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("0.1:3:60", np.linspace(0.1, 3, 60)),
        ("2", [2.0]),
        ("1,2.5,1e-3", [1.0, 2.5, 1e-3]),
        ("log:0.01:1:3", [0.01, 0.1, 1.0]),
        ("0, 0.5:1:2", [0.0, 0.5, 1.0]),
        ("-1:1:3", [-1.0, 0.0, 1.0]),
        ("4:4:1", [4.0]),
    ],
)
def test_parse_range(spec, expected):
    np.testing.assert_allclose(parse_range(spec), expected, rtol=1e-15)


@pytest.mark.parametrize("spec", ["", "0.1:3", "1:2:0", "a", "1:2:3:4", "1,,2", "log:0:1:3", "1:2:1", "1:2:2.5"])
def test_parse_range_errors(spec):
    with pytest.raises(RangeSpecError, match="--beta"):
        parse_range(spec, "beta")


def test_defaults():
    c = make_config()
    assert (c.model, c.n, c.samples, c.seed, c.methods, c.sites) == ("sk", 16, 4, 0, ("exact", "mf", "smf", "trw"), True)  # issue 11: both sides by default
    np.testing.assert_allclose(c.beta, np.linspace(0.05, 3, 60))
    assert make_config("square", {"L": 3}).samples == 1
    assert make_config("square", {"L": 3, "disorder": "pm"}).samples == 4
    assert make_config("square", {"L": 40}, methods=["mf"]).sites is False


def test_grid_errors(slow_estimate):
    with pytest.raises(GridError, match=">= 0"):
        make_config("sk", {"n": 4}, beta="-0.5,1")
    with pytest.raises(GridError, match="twice"):
        make_config("sk", {"n": 4}, beta="1,1")
    with pytest.raises(TooLargeError, match="would take about"):
        make_config("sk", {"n": 40})
    assert make_config("sk", {"n": 40}, methods=["mf"]).n == 40
    assert make_config("sk", {"n": 40}, force=True).force


def test_exact_time_probes_split_zero_and_nonzero_fields():
    from isingvar.families import make_instance, resolve_params
    from isingvar.sweep import _probes

    sk = make_instance("sk", resolve_params("sk", {"n": 6}), 0, 0)
    Js, hs = np.array([0.5, -2.0]), np.array([0.0, 0.1, 0.3])
    (zero, n_zero), (field, n_field) = _probes(sk, Js, hs)
    assert (n_zero, n_field) == (2, 4)  # instances per sample: |J| x |h| in each group
    assert not np.any(zero.fields) and np.all(field.fields == 0.1)
    np.testing.assert_allclose(zero.couplings, -2.0 * sk.couplings)  # probed at the largest |J|
    only = _probes(sk.scaled(1.0, 0.2), Js, hs)  # fields of its own: no h leaves them all zero
    assert len(only) == 1 and only[0][1] == 6


def test_small_sweeps_run_in_process_by_default(monkeypatch):
    # workers from the estimated work of the methods run (issue 20: never from N), tests/test_settings_defects.py
    from isingvar.sweep import default_workers, estimate

    # the estimate is injected (a timed one depends on the machine): milliseconds stay in process
    monkeypatch.setattr(estimate, "instance_seconds", lambda config, **kw: 0.01)
    assert default_workers(make_config(None, {}), cores=8) == 1  # the embedded default
    assert default_workers(make_config("sk", {"n": 26}, methods=["mf"]), cores=8) == 1  # N = 26, mean field
    monkeypatch.setattr(estimate, "instance_seconds", lambda config, **kw: 1e4)
    assert default_workers(make_config("square", {"L": 40}, methods=["mf"]), cores=8) == 1  # one instance: no pool
    # many small instances: their overhead alone wins the workers back, without timing a method
    many = make_config("sk", {"n": 8}, beta="0.5", h="0,0.1", samples=1000)
    monkeypatch.setattr(estimate, "instance_seconds", lambda config, **kw: pytest.fail("timed the methods"))
    assert default_workers(many, cores=8) == 8
    # a few instances: the methods' estimate decides, and no more workers than instances
    few = make_config("sk", {"n": 8}, beta="0.5", samples=4)
    for seconds, workers in ((0.3, 1), (0.5, 4)):
        monkeypatch.setattr(estimate, "instance_seconds", lambda config, seconds=seconds, **kw: seconds)
        assert default_workers(few, cores=8) == workers


def test_default_methods_leave_out_exact_where_it_cannot_run():
    from isingvar.errors import TooLargeError

    # no --method: a model beyond every exact path (N = 70 > 62, dense: no low-width elimination order)
    # still gets its bounds from both sides
    assert make_config("sk", {"n": 70}, beta="0.5", samples=1).methods == ("mf", "smf", "trw")
    assert make_config("square", {"L": 4}, beta="0.5").methods == ("exact", "mf", "smf", "trw")
    with pytest.raises(TooLargeError, match="no exact path can compute this model .N = 70.: enumeration"):
        make_config("sk", {"n": 70}, beta="0.5", samples=1, methods=["exact", "mf"])  # asked for by name: refused


def test_exact_runs_beyond_enumeration_where_elimination_applies():
    """N = 100 (a 10 x 10 lattice, width 20) and N = 400 (20 x 20 open): exact by elimination, not refused."""
    assert make_config("square", {"L": 10}, beta="0.5").methods == ("exact", "mf", "smf", "trw")
    config = make_config("square", {"L": 20, "boundary": "open"}, beta="0.5", methods=["exact"], sites=False)
    assert config.methods == ("exact",)
