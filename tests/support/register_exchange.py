"""A generated register in the exchange layout (docs/register-exchange.md), seeded: units on
given parcels, persons and companies, every kind of right and restriction, and history (ended
rights, discharged mortgages, released and queued seizures, cancelled objections).

    tables = generate_register(parcel_codes, units=3000, seed=1)
    write_tables(tables, directory, encoding="gbk")   # or a path ending in .xlsx
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import psycopg

from portal.accounts.identity_numbers import credit_code_check_char, resident_id_check_digit
from portal.registry.exchange.layout import TABLES

__all__ = ["generate_register", "resident_id", "credit_code", "Expected"]

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英"
BANKS = ["中国工商银行", "中国建设银行", "中国农业银行", "中国银行", "交通银行", "招商银行"]
COURTS = ["北京市东城区人民法院", "北京市第二中级人民法院", "北京市西城区人民法院"]
ZONE = dt.timezone(dt.timedelta(hours=8))


def resident_id(n: int) -> str:
    born = dt.date(1950, 1, 1) + dt.timedelta(days=n % 20000)
    first17 = f"110101{born:%Y%m%d}{n // 20000 % 1000:03d}"  # distinct for 20,000,000 numbers in a row
    return first17 + resident_id_check_digit(first17)


def credit_code(n: int) -> str:
    first17 = f"91110101{n:09d}"
    return first17 + credit_code_check_char(first17)


class Expected:
    """What a restriction check should answer for the generated units (unit number -> flags)."""

    def __init__(self) -> None:
        self.mortgaged: set[str] = set()
        self.seized: set[str] = set()
        self.objected: set[str] = set()
        self.co_owned: set[str] = set()
        self.clean: set[str] = set()


def _row(table: str, **values: Any) -> dict[str, str]:
    return {c: "" if values.get(c) is None else str(values[c]) for c in TABLES[table].codes}


def _time(day: dt.date, hour: int = 10) -> str:
    return dt.datetime(day.year, day.month, day.day, hour, 0, tzinfo=ZONE).strftime("%Y-%m-%d %H:%M:%S")


def generate_register(parcel_codes: list[str], *, units: int, seed: int = 1, building: int = 9000,
                      expected: Expected | None = None) -> dict[str, list[dict[str, str]]]:
    """The tables of a register of `units` units spread over `parcel_codes` (fixture F, buildings
    from `building` up so they do not collide with units already there)."""
    rnd = random.Random(seed)
    out: dict[str, list[dict[str, str]]] = {t: [] for t in TABLES}
    expected = expected if expected is not None else Expected()
    people = 0

    def person() -> str:
        nonlocal people
        people += 1
        bsm = f"P{seed}-{people}"
        name = rnd.choice(SURNAMES) + rnd.choice(GIVEN) + rnd.choice(GIVEN)
        # resident_id is distinct over 20,000,000 numbers in a row: 200,000 people a seed keeps seeds
        # 0-99 apart (seed * 10,000,000 made every seed collide with seed + 2, so two registers
        # imported into one database shared identity numbers).
        assert people < 200_000 and 0 <= seed < 100, "identity numbers would collide with another seed's"
        number = resident_id(seed * 200_000 + people)
        out["QLR"].append(_row("QLR", BSM=bsm, QLRMC=name, QLRLX=1, ZJZL=1, ZJH=number))
        return bsm

    banks = []
    for i, name in enumerate(BANKS):
        bsm = f"B{seed}-{i}"
        banks.append(bsm)
        out["QLR"].append(_row("QLR", BSM=bsm, QLRMC=f"{name}北京分行", QLRLX=2, ZJZL=7,
                               ZJH=credit_code(seed * 1000 + i)))
    base = dt.date(2012, 1, 1)
    rights = mortgages = seizures = notes = 0
    for i in range(units):
        code = parcel_codes[i % len(parcel_codes)]
        j = i // len(parcel_codes)
        number = f"{code}F{building + j // 100:04d}{j % 100 + 1:04d}"
        start = base + dt.timedelta(days=rnd.randrange(0, 1500))
        out["BDCDY"].append(_row("BDCDY", BSM=f"U{seed}-{i}", BDCDYH=number, ZDDM=code,
                                 ZL=f"北京市东城区示范路{i % 300 + 1}号{j % 30 + 1}单元{j % 100 + 1}室",
                                 JZMJ=f"{rnd.randrange(4000, 16000) / 100:.2f}",
                                 YT=rnd.choice(["住宅", "住宅", "商业", "办公"]),
                                 DJSJ=_time(start, 9)))
        when = start
        if rnd.random() < 0.2:  # an earlier owner, whose right ended with the transfer
            rights += 1
            ended = when + dt.timedelta(days=rnd.randrange(100, 900))
            bsm = f"R{seed}-{rights}"
            out["QL"].append(_row("QL", BSM=bsm, BDCDYH=number, QLLX=4, GYFS=0,
                                  BDCQZH=f"京(2013)东城区不动产权第{rights:07d}号",
                                  DJSJ=_time(when), ZXSJ=_time(ended), QXDM=number[:6], YWH=f"Y{seed}-{rights}",
                                  DBR="李登簿"))
            out["QLRGX"].append(_row("QLRGX", BSM=f"{bsm}/1", QLBSM=bsm, QLRBSM=person()))
            when = ended
        rights += 1
        bsm = f"R{seed}-{rights}"
        form = rnd.choices(["0", "1", "2"], weights=[6, 2, 2])[0]
        out["QL"].append(_row("QL", BSM=bsm, BDCDYH=number, QLLX=4, GYFS=form,
                              BDCQZH=f"京(2016)东城区不动产权第{rights:07d}号",
                              DJSJ=_time(when), QXDM=number[:6], YWH=f"Y{seed}-{rights}", DBR="王登簿"))
        holders = {"0": 1, "1": 2, "2": rnd.choice([2, 3])}[form]
        shares = {2: ["1/2", "1/2"], 3: ["1/3", "1/3", "1/3"]}.get(holders) if form == "2" else None
        for h in range(holders):
            out["QLRGX"].append(_row("QLRGX", BSM=f"{bsm}/{h}", QLBSM=bsm, QLRBSM=person(),
                                     QLBL=shares[h] if shares else None))
        if form != "0":
            expected.co_owned.add(number)
        later = when + dt.timedelta(days=30)
        flags = False
        if rnd.random() < 0.3:  # mortgages: a discharged one first sometimes, then a current one
            if rnd.random() < 0.3:
                mortgages += 1
                out["DYAQ"].append(_row("DYAQ", BSM=f"M{seed}-{mortgages}", BDCDYH=number, DYQRBSM=rnd.choice(banks),
                                        DYFS=1, BDBZZQSE="500000.00", DYSW=1, ZWLXQSSJ=later.isoformat(),
                                        ZWLXJSSJ=(later + dt.timedelta(days=365)).isoformat(), DJSJ=_time(later),
                                        ZXSJ=_time(later + dt.timedelta(days=200)), ZT="注销",
                                        YWH=f"D{seed}-{mortgages}", DBR="王登簿"))
                later += dt.timedelta(days=300)
            for rank in range(1, rnd.choice([1, 1, 2]) + 1):
                mortgages += 1
                out["DYAQ"].append(_row("DYAQ", BSM=f"M{seed}-{mortgages}", BDCDYH=number, DYQRBSM=rnd.choice(banks),
                                        DYFS=rnd.choice([1, 2]), BDBZZQSE=f"{rnd.randrange(10, 300) * 10000}.00",
                                        DYSW=rank, ZWLXQSSJ=later.isoformat(),
                                        ZWLXJSSJ=(later + dt.timedelta(days=3650)).isoformat(),
                                        DJSJ=_time(later, 10 + rank), ZT="现势", YWH=f"D{seed}-{mortgages}",
                                        DBR="王登簿"))
            expected.mortgaged.add(number)
            flags = True
            later += dt.timedelta(days=10)
        if rnd.random() < 0.06:  # seizures: one released earlier, one in effect, one queued behind it
            t = later + dt.timedelta(days=20)
            if rnd.random() < 0.5:
                seizures += 1
                out["CFDJ"].append(_row("CFDJ", BSM=f"S{seed}-{seizures}", BDCDYH=number, CFJG=rnd.choice(COURTS),
                                        CFWH=f"(2019)京0101执{seizures}号", CFQSSJ=t.isoformat(),
                                        CFJSSJ=(t + dt.timedelta(days=1095)).isoformat(), LHSX=1, DJSJ=_time(t),
                                        JFSJ=_time(t + dt.timedelta(days=90)), ZT="解封", YWH=f"C{seed}-{seizures}",
                                        DBR="张登簿"))
                t += dt.timedelta(days=120)
            for place in (1, 2)[: rnd.choice([1, 2])]:
                seizures += 1
                out["CFDJ"].append(_row("CFDJ", BSM=f"S{seed}-{seizures}", BDCDYH=number, CFJG=rnd.choice(COURTS),
                                        CFWH=f"(2020)京0101执{seizures}号", CFQSSJ=t.isoformat(),
                                        CFJSSJ=(t + dt.timedelta(days=1095)).isoformat(), LHSX=place,
                                        DJSJ=_time(t, 10 + place), ZT="查封" if place == 1 else "轮候",
                                        YWH=f"C{seed}-{seizures}", DBR="张登簿"))
            expected.seized.add(number)
            flags = True
        if rnd.random() < 0.04:
            notes += 1
            ended = rnd.random() < 0.4
            out["YYDJ"].append(_row("YYDJ", BSM=f"O{seed}-{notes}", BDCDYH=number, SQRBSM=person(),
                                    YYSX="对权属有异议", DJSJ=_time(later + dt.timedelta(days=5)),
                                    ZXSJ=_time(later + dt.timedelta(days=20)) if ended else None,
                                    ZT="注销" if ended else "现势", YWH=f"O{seed}-{notes}", DBR="张登簿"))
            if not ended:
                expected.objected.add(number)
                flags = True
        if rnd.random() < 0.03:
            notes += 1
            out["YGDJ"].append(_row("YGDJ", BSM=f"A{seed}-{notes}", BDCDYH=number, QLRBSM=person(),
                                    YGDJZL="预购商品房", DJSJ=_time(later + dt.timedelta(days=3)), ZT="现势",
                                    YWH=f"A{seed}-{notes}", DBR="张登簿"))
        if not flags and form == "0":
            expected.clean.add(number)
    return out


def register_on(url: str, *, seed: int, building: int, units: int = 3) -> dict[str, list[dict[str, str]]]:
    """A generated register on the current parcels of the database at `url` (see generate_register)."""
    with psycopg.connect(url) as conn:
        codes = [c for (c,) in conn.execute("SELECT parcel_code FROM current_parcels ORDER BY parcel_code")]
    return generate_register(codes, units=units, seed=seed, building=building)


def last_exchange_audit(url: str, actions: tuple[str, ...] = ("register_import",)) -> tuple[str, str]:
    """The newest audit row of an import (or of `actions`): (outcome, detail as JSON text)."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT outcome, detail::text FROM audit_log WHERE action = ANY(%s) "
                           "ORDER BY seq DESC LIMIT 1", (list(actions),)).fetchone()
    assert row is not None, "no audit row of " + ", ".join(actions)
    return row[0], row[1]
