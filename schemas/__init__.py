"""Schemas are code: one contract per table (see contract.py), looked up by name."""

from __future__ import annotations

from citybrain.schemas.contract import Column, Contract, ContractViolation


def all_contracts() -> dict[str, Contract]:
    from citybrain.schemas.bronze import BRONZE_CONTRACTS
    from citybrain.schemas.ops import OPS_CONTRACTS

    return {**BRONZE_CONTRACTS, **OPS_CONTRACTS}


def get_contract(name: str) -> Contract:
    contracts = all_contracts()
    if name not in contracts:
        raise KeyError(f"no contract for table {name!r}; known tables: {', '.join(sorted(contracts))}")
    return contracts[name]


__all__ = ["Column", "Contract", "ContractViolation", "all_contracts", "get_contract"]
