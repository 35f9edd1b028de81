"""The built wheel is the whole program: every subpackage, the templates and the sample configuration.

It is installed into a fresh virtual environment (no checkout on sys.path, no editable install) and
`baocao demo` runs from an empty directory, finding its templates and configuration in site-packages.
"""

from __future__ import annotations

import email
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from email import policy
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
# What the build reads (pyproject.toml, its readme, the packages and the folders mapped into the wheel).
SOURCES = ["pyproject.toml", "README.md", "flows", "tasks", "templates", "config"]
JUNK = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
SITE_PACKAGES = "lib/python{}.{}/site-packages".format(*sys.version_info[:2])


def _env(**extra: str) -> dict[str, str]:
    """The caller's environment without anything that could point back at the checkout or its state."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BAOCAO_", "PREFECT_", "PYTHON", "PIP_")) and k != "VIRTUAL_ENV"}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", **extra)
    return env


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} → {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built offline with this environment's setuptools from a copy of the working tree (an
    in-tree build would leave build/ in the shared checkout)."""
    import setuptools

    major = int(setuptools.__version__.split(".")[0])
    assert major >= 77, f"setuptools {setuptools.__version__} < 77: run `make` (pip install -e '.[dev]')"
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    src.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=JUNK)
        else:
            shutil.copy2(path, src / name)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
          "-w", str(base / "dist"), str(src)], cwd=base, env=_env(), timeout=300)
    (built,) = (base / "dist").glob("baocao-*.whl")
    return built


def _in_checkout(path: str) -> bool:
    """A sys.path entry that imports from the checkout (its virtual environment's site-packages aside)."""
    resolved = Path(path).resolve()
    return resolved.is_relative_to(ROOT) and ".venv" not in resolved.relative_to(ROOT).parts


def _checkout_files(folder: str, pattern: str) -> set[str]:
    return {p.relative_to(ROOT / folder).as_posix() for p in (ROOT / folder).rglob(pattern)
            if p.is_file() and "__pycache__" not in p.parts}


def test_wheel_holds_every_subpackage_template_and_the_sample_configuration(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        entry_points = zf.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()

    for module in ["tasks/channels/__init__.py", "tasks/channels/email.py", "tasks/transports/sheets.py",
                   "tasks/transports/mail/__init__.py", "tasks/transports/mail/smtp.py",
                   "tasks/render/__init__.py", "tasks/render/docx_report.py", "tasks/resources.py",
                   "flows/watchers/__init__.py", "flows/web/__init__.py", "flows/web/app.py", "flows/cli.py"]:
        assert module in names, module
    for data in ["baocao_templates/mail/request.html.j2", "baocao_templates/mail/request.txt.j2",
                 "baocao_templates/report/bao-cao.docx", "baocao_templates/web/base.html.j2",
                 "baocao_config/settings.yaml", "baocao_config/units.yaml",
                 "baocao_config/reports/cchc-tuyen-truyen.yaml"]:
        assert data in names, data
    # Everything of the checkout, so a new subpackage or template cannot be left out unnoticed.
    for folder in ("flows", "tasks"):
        missing = {f"{folder}/{p}" for p in _checkout_files(folder, "*.py")} - names
        assert not missing, f"not in the wheel (add the package to [tool.setuptools] packages): {sorted(missing)}"
    for folder, package in (("templates", "baocao_templates"), ("config", "baocao_config")):
        missing = {f"{package}/{p}" for p in _checkout_files(folder, "*")} - names
        assert not missing, f"not in the wheel: {sorted(missing)}"
    # Nothing else lands at the top of site-packages (no bare templates/ or config/, no tests/).
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"flows", "tasks", "baocao_templates", "baocao_config"}
    assert "License-Expression: MIT" in metadata.splitlines()
    assert "baocao = flows.cli:app" in entry_points


def test_installed_wheel_runs_the_demo_from_an_empty_directory(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
         cwd=tmp_path, env=_env(), timeout=300)
    site = venv / SITE_PACKAGES
    # Dependencies come from this environment's site-packages, added as plain path lines: its .pth files (the
    # editable install's finder among them) are not run, so the checkout stays off sys.path.
    deps = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    assert not any(_in_checkout(d) for d in deps), deps
    (site / "_baocao_test_deps.pth").write_text("".join(f"{d}\n" for d in deps))

    empty = tmp_path / "elsewhere"
    empty.mkdir()
    env = _env(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1",
               BAOCAO_NO_PDF="1", TZ="Asia/Ho_Chi_Minh")

    probe = _run([str(python), "-c", "import json, sys, tasks, flows, flows.cli; from tasks import resources as r; "
                  "print(json.dumps([tasks.__file__, flows.__file__, str(r.templates_dir()), "
                  "str(r.default_config_dir()), sys.path]))"], cwd=empty, env=env, timeout=120)
    tasks_file, flows_file, templates, config, path = json.loads(probe.stdout)
    assert Path(tasks_file) == site / "tasks" / "__init__.py"
    assert Path(flows_file) == site / "flows" / "__init__.py"
    assert Path(templates) == site / "baocao_templates"
    assert Path(config) == site / "baocao_config"
    assert not [p for p in path if p and _in_checkout(p)], path  # ("" is the empty current directory)

    out, data = tmp_path / "out", tmp_path / "data"
    demo = _run([str(venv / "bin" / "baocao"), "demo", "--out", str(out), "--data-dir", str(data)],
                cwd=empty, env=env, timeout=900)
    assert "Đã báo cáo 7/9 đơn vị (đúng hạn 6, muộn 1); chưa báo cáo: TĐKT, BTG." in demo.stdout
    assert "Giám đốc duyệt: số 21/BC-SNV, ngày ban hành 18/03/2021." in demo.stdout
    for suffix in ("json", "docx", "xlsx"):
        produced = out / f"cchc-tuyen-truyen-2021-03.{suffix}"
        assert produced.is_file() and produced.stat().st_size > 0, produced
    consolidated = json.loads((out / "cchc-tuyen-truyen-2021-03.json").read_text(encoding="utf-8"))
    assert consolidated["completeness"]["accepted_count"] == 7
    assert consolidated["completeness"]["expected_count"] == 9
    # The report comes from the installed bao-cao.docx, the mails from the installed mail templates.
    with zipfile.ZipFile(out / "cchc-tuyen-truyen-2021-03-ban-hanh.docx") as docx:
        assert "21/BC-SNV" in docx.read("word/document.xml").decode()
    with zipfile.ZipFile(out / "cchc-tuyen-truyen-2021-03.xlsx") as xlsx:
        assert "xl/workbook.xml" in xlsx.namelist()
    (approval,) = (data / "outbox" / "2021-03" / "approval").glob("*.eml")
    mail = email.message_from_bytes(approval.read_bytes(), policy=policy.default)
    assert "- Đã báo cáo: 7/9 đơn vị (đúng hạn 6, muộn 1)." in mail.get_body(("plain",)).get_content()
    assert list(empty.iterdir()) == []  # nothing written to the current directory (no ./data, no ./config)
