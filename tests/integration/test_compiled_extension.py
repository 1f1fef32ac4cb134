"""A fix to a C extension, end to end on the real Docker engine (issue 15).

pallets/markupsafe keeps a C twin of its Python code (``_speedups.c``): a fix to it was tested against the
extension compiled at the base commit, so the ``_speedups`` variants of the target tests still failed after
the gold patch and the fix was lost as ``fail2fail``. The explorer sees compiled sources and the eval script
rebuilds them in place after the patches; ``acme/cdouble``'s fix is to its C function only.
"""

from __future__ import annotations

from pathlib import Path

from factory.core.models import Status
from tests.repo_fixtures import build_the_fix, new_repo

SETUP_PY = """\
from setuptools import Extension, setup

setup(name="cdouble", version="0.1", packages=["cdouble"],
      ext_modules=[Extension("cdouble._speedups", ["cdouble/_speedups.c"])])
"""
C_SOURCE = """\
#include <Python.h>

static PyObject *twice(PyObject *self, PyObject *arg) {{
    long x = PyLong_AsLong(arg);
    return PyLong_FromLong(x {op});
}}

static PyMethodDef methods[] = {{{{"twice", twice, METH_O, ""}}, {{NULL, NULL, 0, NULL}}}};
static struct PyModuleDef module = {{PyModuleDef_HEAD_INIT, "_speedups", NULL, -1, methods}};
PyMODINIT_FUNC PyInit__speedups(void) {{ return PyModule_Create(&module); }}
"""


def make_repo(root: Path) -> Path:
    g = new_repo(root, "acme/cdouble")
    g.commit("Initial import", {
        "setup.py": SETUP_PY,
        "cdouble/__init__.py": "from cdouble._speedups import twice\n",
        "cdouble/_speedups.c": C_SOURCE.format(op="* 3"),
    })
    g.commit("twice doubles\n\nFixes #1: twice(2) returned 6.", {
        "cdouble/_speedups.c": C_SOURCE.format(op="* 2"),
        "tests/test_twice.py": "from cdouble import twice\n\n\ndef test_twice():\n    assert twice(2) == 4\n",
    })
    return root


def test_a_fix_to_c_code_is_tested_against_the_rebuilt_extension(tmp_path: Path, docker_client) -> None:
    inst, _ = build_the_fix(make_repo(tmp_path / "cdouble"), tmp_path)
    assert inst.status is Status.VALID, (inst.status, inst.reason, inst.detail)
    assert inst.fail_to_pass == ["tests/test_twice.py::test_twice"]
    assert "build_ext --inplace" in inst.eval_script
