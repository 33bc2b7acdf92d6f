"""The sample tree the README's first command checks."""

import json

from conftest import REPO, run_daxlint


def test_readme_sample_tree_reports_each_family():
    rc, out, err = run_daxlint("check", "--format", "json", "examples/linux-sample", cwd=REPO)
    assert rc == 1, err
    data = json.loads(out)
    assert data["kernel_version"] == "6.6"
    got = {(f["rule_id"], f["path"], f["line"]) for f in data["findings"]}
    path = "examples/linux-sample/drivers/dax/sample/sample.c"
    kconfig = "examples/linux-sample/drivers/dax/sample/Kconfig"
    assert got == {
        ("DAX101", path, 25),
        ("DAX201", path, 30),
        ("DAX301", path, 36),
        ("DAX202", path, 51),
        ("DAX204", kconfig, 2),
    }
