"""Helpers shared by tests (importable as ``tests_support``: tests/ is on sys.path under pytest's rootdir conftest)."""

import re
from pathlib import Path

SHARED_REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
#: how long the test run's engine keeps a session that makes no call: the run holds one session from
#: start to end, and end-to-end tests in other processes leave it idle for longer than Sail's 15 min
#: on a slow machine (a CI run lost it after 2000 s and failed the two tests that came next)
TEST_RUN_IDLE_SESSION_S = 6 * 3600


# --- planted personal data: what the privacy checks look for -------------------------------------------


_ALNUM_RUN = re.compile(r"[0-9A-Za-z]+")
_HAN_RUN = re.compile(r"[\u4e00-\u9fff]+")
_PLATE = re.compile(r"[\u4e00-\u9fff][A-Z]·?[A-Z0-9]{5,6}")
PLANTED_KINDS = ("name", "phone", "id_number", "plate", "licence")
NOT_NAMES = {"匿名", "未知", "不详", "无名", "先生", "女士"}  # what departments write in a name field when there is none


def planted_personal_data(lake_root) -> dict[str, str]:
    """{value: kind} of every name, phone, ID, plate and licence number the departments sent:
    the distinct values of bronze's PII-tagged columns (bronze keeps them as sent)."""
    from deltalake import DeltaTable

    from citybrain.schemas import all_contracts

    planted: dict[str, str] = {}
    for name, contract in all_contracts().items():
        path = Path(lake_root) / "bronze" / name.split(".")[1]
        columns = [c.name for c in contract.columns if c.pii in PLANTED_KINDS]
        if not name.startswith("bronze.") or not columns or not DeltaTable.is_deltatable(str(path)):
            continue
        table = DeltaTable(str(path)).to_pyarrow_table(columns=columns)
        for column in columns:
            kind = contract.column(column).pii
            for value in set(table.column(column).to_pylist()):
                value = (value or "").strip()
                # a person's name is 2 to 4 Chinese characters ("市民热线服务中心" in a name field is not one)
                if value and (kind != "name" or (2 <= len(value) <= 4 and value not in NOT_NAMES)):
                    planted.setdefault(value, kind)
    return planted


def find_planted(text: str, planted: dict[str, str]) -> list[str]:
    """Planted values found in ``text``: numbers as whole letter-and-digit runs (a hex token holding
    eleven digits in a row is not a phone), plates by their shape, names as a whole run of Chinese
    characters or, from three characters on, anywhere."""
    found = [run for run in _ALNUM_RUN.findall(text) if run in planted]
    found += [plate for plate in _PLATE.findall(text) if plate in planted]
    for run in _HAN_RUN.findall(text):
        if planted.get(run) == "name":
            found.append(run)
            continue
        for size in (3, 4):
            found += [run[i : i + size] for i in range(len(run) - size + 1) if planted.get(run[i : i + size]) == "name"]
    return found
