"""Schemas are code: one contract per table (see contract.py), looked up by name.

Every ``Contract`` defined at module level in a module of this package (or listed in a
module-level dict or tuple of contracts) is registered: adding a table means adding its
contract, nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from citybrain.schemas.contract import Column, Contract, ContractViolation


@cache
def all_contracts() -> dict[str, Contract]:
    import citybrain.schemas as package

    found: dict[str, Contract] = {}
    for module_info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
        module = importlib.import_module(module_info.name)
        for value in vars(module).values():
            candidates = value.values() if isinstance(value, dict) else value if isinstance(value, tuple | list) else (value,)
            for item in candidates:
                if isinstance(item, Contract):
                    if item.name in found and found[item.name] != item:
                        raise ValueError(f"two different contracts are named {item.name} (in {module_info.name})")
                    found[item.name] = item
    return dict(sorted(found.items()))


def get_contract(name: str) -> Contract:
    contracts = all_contracts()
    if name not in contracts:
        raise KeyError(f"no contract for table {name!r}; known tables: {', '.join(sorted(contracts))}")
    return contracts[name]


__all__ = ["Column", "Contract", "ContractViolation", "all_contracts", "get_contract"]
