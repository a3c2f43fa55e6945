import numpy as np
import pytest
import xarray as xr

from isingvar.errors import OutputExistsError
from isingvar.exact.enumeration import exact_enumeration
from isingvar.families import make_instance
from isingvar.io.store import check_output, commit, open_copy, open_new, schema
from isingvar.meanfield import mean_field
from isingvar.model import IsingModel
from isingvar.sweep import make_config, run_sweep


def test_commit_replaces_the_file_whole(tmp_path):
    # each commit leaves a complete file; the previous version stays intact until the rename
    import h5py

    target = tmp_path / "r.h5"
    coords = {"sample": np.arange(2), "J": [1.0], "h": [0.0], "beta": [0.5, 1.0], "site": np.arange(3), "edge": np.arange(2)}
    with open_new(coords=coords, attrs={"title": "t"}, methods=("exact",), sites=False) as f:
        commit(f, target)
        with h5py.File(target, "r") as g:
            assert not g["done"][()].any() and np.isnan(g["lnZ_exact"][()]).all()
        f["lnZ_exact"][1, 0, 0] = [1.0, 2.0]
        f["done"][1, 0, 0] = 1
        commit(f, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.h5"]  # no temporary left
    with open_copy(target) as g:
        assert g["done"][1, 0, 0] == 1 and list(g["lnZ_exact"][1, 0, 0]) == [1.0, 2.0]
        g["done"][0, 0, 0] = 1  # an in-memory copy: the file itself is not touched
    with h5py.File(target, "r") as g:
        assert g["done"][0, 0, 0] == 0


def test_check_output_refuses_an_existing_file(tmp_path):
    target = tmp_path / "r.h5"
    target.write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        check_output(target, overwrite=False)
    check_output(target, overwrite=True)
    assert target.read_bytes() == b"precious"


@pytest.fixture(scope="module")
def sweep_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("sweep") / "sk.h5"
    config = make_config("sk", {"n": 8}, beta="0,0.5:2:4", J="0.5,1", h="0,0.3", samples=2, seed=9)
    run_sweep(config, path, command_line="isingvar sweep sk --n 8")
    return config, path


def test_file_opens_in_xarray_with_labelled_coordinates(sweep_file):
    config, path = sweep_file
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        assert dict(ds.sizes) == {"sample": 2, "J": 2, "h": 2, "beta": 5, "site": 8, "edge": 28}
        np.testing.assert_array_equal(ds.beta.values, config.beta)
        np.testing.assert_array_equal(ds.J.values, [0.5, 1.0])
        for name, var in schema(config.methods, model_file=False).items():
            assert ds[name].dims == var.dims, name
            assert ds[name].attrs["units"] and ds[name].attrs["long_name"], name
        assert "upper bound" in ds.f_mf_upper.attrs["long_name"]
        assert "lower bound" in ds.lnZ_mf_lower.attrs["long_name"]
        assert ds.done.values.all()
        assert (ds.f_mf_upper >= ds.f_exact - 1e-12).sel(beta=slice(0.1, None)).all()
        assert (ds.kl_mf >= -1e-12).all()
        for key in ("schema_version", "isingvar_version", "command_line", "model_family",
                    "model_params", "seed", "energy_convention", "created"):
            assert key in ds.attrs, key


def test_file_values_equal_a_recomputation_from_the_stored_instance(sweep_file):
    # rebuild the (sample 1, J 0.5, h 0.3) instance from the file alone and recompute
    config, path = sweep_file
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        k, a, b = 1, 0, 1
        base = IsingModel(8, ds.edge_i[k].values, ds.edge_j[k].values, ds.couplings[k].values, ds.fields[k].values)
        model = base.scaled(float(ds.J[a]), float(ds.h[b]))
        ex = exact_enumeration(model, ds.beta.values)
        np.testing.assert_allclose(ds.lnZ_exact[k, a, b].values, ex.lnZ, rtol=1e-13)
        np.testing.assert_allclose(ds.c_exact[k, a, b].values, ex.c, rtol=1e-12, atol=1e-14)
        assert float(ds.E0_exact[k, a, b]) == pytest.approx(ex.e0)
        mf = mean_field(model, ds.beta.values, rng=np.random.default_rng([config.seed, k, 0x6D66, a, b]))
        np.testing.assert_array_equal(ds.lnZ_mf_lower[k, a, b].values, mf.lnZ_lower)
        np.testing.assert_array_equal(ds.m_mf_site[k, a, b].values, mf.sites)
        # and the stored instance is the family's sample 1
        np.testing.assert_array_equal(base.couplings, make_instance("sk", config.params, config.seed, 1).couplings)


def test_variables_of_methods_not_run_are_not_created(tmp_path):
    path = tmp_path / "mf.h5"
    run_sweep(make_config("chain", {"n": 6}, beta="0.5,1", methods=["mf"]), path)
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        assert "lnZ_exact" not in ds and "kl_mf" not in ds and "exact_path" not in ds  # schema 3: no empty variables
        assert set(ds.data_vars) == set(schema(("mf",), model_file=False))  # lnZ_model_*: model-file sweeps only
        assert np.isfinite(ds.lnZ_mf_lower).all()
        assert ds.attrs["methods"] == "mf"


def test_schema_doc_lists_every_variable():
    from pathlib import Path

    from isingvar.methods import method_names

    doc = (Path(__file__).parent.parent / "docs" / "schema.md").read_text()
    for name in schema(method_names()):  # every method of the registry, its derived variables too
        assert f"`{name}`" in doc, name
