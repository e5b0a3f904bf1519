"""The grading command's kernel manager, whose kernels the sandbox's provisioner starts; the pre-flight check."""

from __future__ import annotations

import logging

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.provisioning import KernelProvisionerFactory
from traitlets import CaselessStrEnum, default

from ...kernel import CourseKernelManager, CourseKernelSpecManager, course_spec
from .bwrap import UNSANDBOXED_WARNING, SandboxUnavailable, check_bwrap, opted_out
from .provisioner import SandboxProvisioner

PROVISIONER_NAME = "course-sandbox"
"""The provisioner's entry point (``jupyter_client.kernel_provisioners`` in pyproject.toml)."""

log = logging.getLogger(__name__)


def sandbox_spec() -> KernelSpec:
    """The course's kernel, started by :class:`SandboxProvisioner`.

    Interrupted by a message on the control channel: SIGINT to the process group would
    reach bwrap (and end the sandbox), not the kernel in its own session.
    """
    spec = course_spec()
    spec.interrupt_mode = "message"
    spec.metadata = {**spec.metadata, "kernel_provisioner": {"provisioner_name": PROVISIONER_NAME}}
    return spec


class SandboxKernelSpecManager(CourseKernelSpecManager):
    """Resolves every kernel name to :func:`sandbox_spec`."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return sandbox_spec()


class SandboxedKernelManager(CourseKernelManager):
    """The course's kernel manager, its kernels inside bubblewrap (see the package docstring)."""

    transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

    @default("kernel_spec_manager")
    def _sandbox_specs(self) -> KernelSpecManager:
        return SandboxKernelSpecManager(data_dir=self.data_dir)


def sandbox_of(km) -> SandboxProvisioner | None:
    """The sandbox of a kernel manager's kernel, or None when it is not sandboxed this way."""
    provisioner = getattr(km, "provisioner", None)
    return provisioner if isinstance(provisioner, SandboxProvisioner) else None


def configured_kernel_manager(preprocessor) -> type | None:
    """The ``kernel_manager_class`` set in the config for an ``Execute`` preprocessor (or None).

    nbgrader's ``Execute.__init__`` passes ``AsyncKernelManager`` as a keyword,
    which wins over ``c.Execute.kernel_manager_class``; the grading command
    calls this after creating its preprocessor and applies the result.
    """
    from traitlets.utils.importstring import import_item

    config = preprocessor.config
    for cls in type(preprocessor).__mro__:
        section = cls.__name__
        if section in config and "kernel_manager_class" in config[section]:
            value = config[section]["kernel_manager_class"]
            return import_item(value) if isinstance(value, str) else value
    return None


def preflight(config=None) -> str:
    """Check once, before grading, that the configured sandbox can run.

    Returns a line for the log ("sandbox: on ...", "sandbox: OFF ..."), or
    raises :class:`SandboxUnavailable` with what to install.
    """
    from traitlets.config import Config
    from traitlets.utils.importstring import import_item

    config = config if config is not None else Config()
    name = None
    for section in ("TrackedExecute", "Execute", "ExecutePreprocessor", "NotebookClient"):
        if section in config and "kernel_manager_class" in config[section]:
            name = config[section]["kernel_manager_class"]
            break
    cls = import_item(name) if isinstance(name, str) else name
    if not isinstance(cls, type) or not issubclass(cls, SandboxedKernelManager):
        return "sandbox: not configured (c.TrackedExecute.kernel_manager_class): kernels run unsandboxed"
    if not KernelProvisionerFactory.instance().is_provisioner_available(sandbox_spec()):
        raise SandboxUnavailable(
            f"the sandbox's kernel provisioner ({PROVISIONER_NAME!r}) is not registered with jupyter_client: "
            "install the course package again (`make install`, or `pip install -e .`)")
    box = SandboxProvisioner(config=config)
    try:
        path = check_bwrap(box.bwrap)
    except SandboxUnavailable:
        if not opted_out(box.allow_unsandboxed):
            raise
        log.warning(UNSANDBOXED_WARNING)
        return UNSANDBOXED_WARNING
    return (f"sandbox: on ({path}; per notebook: {box.memory_mb} MB, {box.cpu_seconds} s CPU, "
            f"{box.wall_seconds} s wall clock, {box.max_processes} processes/threads, no network)")
