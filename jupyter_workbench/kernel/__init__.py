"""The kernel side: the `Workbench` client and the ``%workbench`` magics."""

from .client import InstanceInfo, InstanceList, Workbench

__all__ = ["InstanceInfo", "InstanceList", "Workbench"]
