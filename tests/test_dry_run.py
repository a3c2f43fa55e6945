"""The estimate of a sweep (``--dry-run``, the time limit, worker processes) sums each instance's own
estimate: a method that decides per instance (the exact method: its path, from the instance's own values)
is asked on every sample and timed once per distinct decision, never on sample 0 alone.

The per-decision costs are injected (no timing); the reference is a brute-force sum over the instances."""

import dataclasses
import importlib
import json
from collections import Counter

import numpy as np
import pytest
from isingvar_cli.main import app
from typer.testing import CliRunner

from isingvar import methods
from isingvar.errors import TooLargeError
from isingvar.families import make_instance
from isingvar.sweep import estimate, estimate_time, instance_seconds, make_config

runner = CliRunner()


def sign(model) -> str:
    """The fake method's decision: the sign of the instance's first coupling (a value, not the pattern)."""
    return "up" if model.couplings[0] > 0 else "down"


@pytest.fixture
def decides(monkeypatch):
    """Replace the exact method by one that decides per instance (:func:`sign`) and costs ``seconds[decision]``;
    returns the dict to fill.  Keeps the exact method's time limit (600 s)."""
    seconds = {"up": 1.0, "down": 10.0}
    real = methods.get_method("exact")

    def decision(model, betas, settings, *, sites):
        return sign(model)

    def cost(model, betas, settings, *, sites):
        return seconds[sign(model)]

    fake = dataclasses.replace(real, decision=decision, cost=cost, describe=None, check=None, memory=None)
    monkeypatch.setitem(methods._discover(), "exact", fake)
    monkeypatch.setattr(estimate, "_INSTANCE_SECONDS", {})
    return seconds


def signs(config) -> list[str]:
    """Each sample's decision, from its own instance (brute force)."""
    return [sign(make_instance(config.model, config.params, config.seed, k)) for k in range(config.samples)]


def test_the_estimate_sums_each_instances_own_decision(decides):
    config = make_config("sk", {"n": 10}, beta="0.5,1", J="0.5,1", h="0,0.1", samples=8, methods=["exact"])
    said = signs(config)
    assert len(set(said)) == 2, said  # both decisions occur among the samples: the test can tell
    per_sample = config.J.size * config.h.size
    est = estimate_time(config)
    assert est.per_method["exact"] == pytest.approx(per_sample * sum(decides[s] for s in said))
    assert est.decisions["exact"] == {s: per_sample * n for s, n in Counter(said).items()}
    total = len(config.instances())
    for s, n in Counter(said).items():
        assert f"{s} on {per_sample * n} of {total} instances" in est.notes["exact"]
    # an average instance (worker processes and pool tasks are decided from it)
    assert instance_seconds(config) == pytest.approx(est.seconds / total)
    # a count: that many average instances
    assert estimate_time(config, 3).per_method["exact"] == pytest.approx(3 * est.seconds / total)


def test_the_estimate_of_some_instances_is_theirs(decides):
    """A shard's or a resume's instances: their own samples' decisions."""
    config = make_config("sk", {"n": 10}, beta="1", samples=8, methods=["exact"])
    said = signs(config)
    some = [(k, 0, 0) for k in range(config.samples) if said[k] == "down"][:2]
    assert some
    est = estimate_time(config, some)
    assert est.per_method["exact"] == pytest.approx(len(some) * decides["down"])
    assert est.instances == len(some) and est.decisions["exact"] == {"down": len(some)}


def test_a_later_sample_over_the_limit_refuses_the_sweep(decides, monkeypatch):
    """Sample 0 alone would pass the 10-minute limit; the samples after it do not."""
    decides.update(up=1.0, down=1000.0)
    said = {s: signs(make_config("sk", {"n": 10}, beta="1", samples=4, seed=s, methods=["mf"])) for s in range(20)}
    seed = next(s for s, d in said.items() if d[0] == "up" and "down" in d)
    with pytest.raises(TooLargeError, match="exact on N = 10 .* over its 10 minutes limit"):
        make_config("sk", {"n": 10}, beta="1", samples=4, seed=seed, methods=["exact"])
    make_config("sk", {"n": 10}, beta="1", samples=4, seed=seed, methods=["exact"], force=True)
    r = runner.invoke(app, ["sweep", "sk", "--n", "10", "--beta", "1", "--samples", "4", "--seed", str(seed),
                            "--method", "exact", "--dry-run", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["needs_force"]


def test_samples_beyond_those_asked_take_their_mean(decides, monkeypatch):
    monkeypatch.setattr(estimate, "MAX_DECIDED_SAMPLES", 3)
    config = make_config("sk", {"n": 10}, beta="1", samples=8, methods=["exact"])
    asked = [decides[s] for s in signs(config)[:3]]
    est = estimate_time(config)
    assert est.per_method["exact"] == pytest.approx(sum(asked) + 5 * np.mean(asked))
    assert "first 3 of 8 samples" in est.notes["exact"]
    assert sum(est.decisions["exact"].values()) == 3


def test_a_method_without_decisions_is_timed_on_sample_0(monkeypatch):
    calls = []
    real = methods.get_method("bethe")  # mf and trw decide their construction (--bound-budget)

    def cost(model, betas, settings, *, sites):
        calls.append(model)
        return 2.0

    monkeypatch.setitem(methods._discover(), "bethe", dataclasses.replace(real, cost=cost))
    config = make_config("sk", {"n": 10}, beta="1", samples=5, methods=["bethe"])
    est = estimate_time(config)
    assert est.per_method["bethe"] == pytest.approx(10.0) and len(calls) == 1 and "bethe" not in est.decisions


# ---------------------------------------------------------------------------- the reproducer
#: Injected seconds per instance of each exact path (the real estimates are timed: machine-dependent).
PER_PATH = {"enumeration": 1000.0, "elimination": 100.0, "cutset": 10.0, "planar": 1.0}


@pytest.fixture
def path_seconds(monkeypatch):
    from isingvar.exact.choice import EXACT_PATHS, path_name

    for name in EXACT_PATHS:
        module = importlib.import_module(name)

        def fake(model, betas, *args, module=module, sites=False, **kwargs):
            if module.applicable(model, betas, sites=sites) is not None:
                return float("inf")
            return PER_PATH.get(path_name(module), 1e4)

        monkeypatch.setattr(module, "estimate_seconds", fake)
    monkeypatch.setattr(estimate, "_INSTANCE_SECONDS", {})


def test_dry_run_names_each_path_its_count_and_sums_their_estimates(path_seconds):
    """square L = 18, open, gaussian: the path depends on each sample's values (planar or elimination)."""
    from isingvar.exact.choice import decide, path_name

    args = ["square", "--L", "18", "--boundary", "open", "--disorder", "gaussian", "--samples", "3", "--beta", "0.5,9",
            "--method", "exact"]
    r = runner.invoke(app, ["sweep", *args, "--dry-run", "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    config = make_config("square", {"L": 18, "boundary": "open", "disorder": "gaussian"}, beta="0.5,9", samples=3,
                         methods=["exact"])
    paths = [path_name(decide(make_instance("square", config.params, 0, k), config.beta, sites=True)[0])
             for k in range(3)]
    assert len(set(paths)) > 1, paths  # the samples take different paths: sample 0 alone cannot tell
    expected = sum(PER_PATH.get(p, 1e4) for p in paths)
    assert info["estimated_s_by_method"]["exact"] == pytest.approx(expected, abs=0.05)
    assert info["decisions_by_method"]["exact"] == dict(Counter(paths))
    for path, n in Counter(paths).items():
        assert f"{path} ({PER_PATH[path]:.3g} s per instance) on {n} of 3 instances" in info["plan_by_method"]["exact"]
    r = runner.invoke(app, ["sweep", *args, "--dry-run"])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())  # the table wraps between words
    assert all(f"{path} " in text and f"on {n} of 3 instances" in text for path, n in Counter(paths).items()), text
