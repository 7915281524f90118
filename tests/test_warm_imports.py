"""The background import helper: imports once per process, and a failing module is left for later."""

import sys

from trace_platform.lib import warm_imports


def test_imports_the_modules_in_a_thread_once():
    modules = ("json", "email.mime.text")
    sys.modules.pop("email.mime.text", None)
    thread = warm_imports.warm_in_background(modules)
    assert thread is not None and thread.daemon
    thread.join(timeout=30)
    assert "email.mime.text" in sys.modules
    assert warm_imports.warm_in_background(modules) is None  # already started in this process


def test_a_missing_module_does_not_raise_in_the_thread():
    thread = warm_imports.warm_in_background(("no_such_module_for_warm_imports", "json"))
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert "no_such_module_for_warm_imports" not in sys.modules
