"""Invented people and organisations for the demo district, with well-formed identity numbers.

Names are drawn from common Chinese surnames and given-name characters; resident identity
numbers carry a real Hangzhou division code, a birth date and a valid GB 11643 check digit,
and are unique. None of them belongs to a real person on purpose, but they must look and
validate like real ones, so the disclosure tests can scan responses for them.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from portal.accounts.identity_numbers import credit_code_check_char, resident_id_check_digit

__all__ = ["natural_persons", "organisations", "BANKS", "COURTS"]

SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = list(
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国文辉玲萍红志鹏飞宇浩然晨曦思雨子涵梓萱一诺"
    "欣怡雨桐佳琪俊杰嘉怡晓东海燕春梅立新永福德华振宇泽楠婧瑶珺琳慧敏宏伟成龙天佑书航"
)
HANGZHOU_DIVISIONS = ["330102", "330105", "330106", "330108", "330109", "330110", "330111",
                      "330112", "330122", "330127", "330182", "330183", "330103", "330104"]
BANKS = [
    "中国工商银行股份有限公司杭州分行", "中国建设银行股份有限公司杭州分行",
    "中国农业银行股份有限公司杭州分行", "中国银行股份有限公司杭州分行",
    "交通银行股份有限公司杭州分行", "杭州银行股份有限公司", "招商银行股份有限公司杭州分行",
    "浙商银行股份有限公司杭州分行", "中信银行股份有限公司杭州分行", "兴业银行股份有限公司杭州分行",
    "杭州联合农村商业银行股份有限公司", "中国邮政储蓄银行股份有限公司杭州市分行",
]
COURTS = ["杭州市上城区人民法院", "杭州市中级人民法院", "杭州市西湖区人民法院",
          "杭州市拱墅区人民法院", "杭州铁路运输法院", "浙江省高级人民法院"]
_COMPANY_WORDS = list("华联泰恒信达通宏远创新瑞丰盛兴元鼎晟和顺康美嘉禾锦程")
_COMPANY_TRADES = ["科技", "贸易", "实业", "置业", "餐饮", "文化传媒", "物流", "建设", "医药", "电子商务"]
_CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def _names(rng: np.random.Generator, n: int) -> list[str]:
    surnames = rng.integers(0, len(SURNAMES), n)
    first = rng.integers(0, len(GIVEN), n)
    second = rng.integers(0, len(GIVEN), n)
    two_chars = rng.random(n) < 0.7
    return [
        SURNAMES[s] + GIVEN[a] + (GIVEN[b] if t else "")
        for s, a, b, t in zip(surnames.tolist(), first.tolist(), second.tolist(), two_chars.tolist(), strict=True)
    ]


def natural_persons(rng: np.random.Generator, n: int) -> tuple[list[str], list[str]]:
    """`n` (name, resident identity number) pairs, identity numbers unique."""
    start = dt.date(1948, 1, 1).toordinal()
    span = dt.date(2004, 12, 31).toordinal() - start
    numbers: list[str] = []
    seen: set[str] = set()
    while len(numbers) < n:
        need = n - len(numbers)
        division = rng.integers(0, len(HANGZHOU_DIVISIONS), need)
        born = rng.integers(0, span, need) + start
        seq = rng.integers(0, 1000, need)
        for d, b, s in zip(division.tolist(), born.tolist(), seq.tolist(), strict=True):
            first17 = f"{HANGZHOU_DIVISIONS[d]}{dt.date.fromordinal(b):%Y%m%d}{s:03d}"
            if first17 in seen:
                continue
            seen.add(first17)
            numbers.append(first17 + resident_id_check_digit(first17))
    return _names(rng, n), numbers


def _credit_code(rng: np.random.Generator, division: str) -> str:
    body = "".join(_CREDIT_CHARS[i] for i in rng.integers(0, 31, 9).tolist())
    first17 = "91" + division + body
    return first17 + credit_code_check_char(first17)


def organisations(rng: np.random.Generator, n: int) -> tuple[list[str], list[str]]:
    """The banks first, then `n - len(BANKS)` companies, with unique credit codes."""
    names = list(BANKS)
    seen: set[str] = set()
    while len(names) < n:
        words = rng.integers(0, len(_COMPANY_WORDS), 2).tolist()
        trade = _COMPANY_TRADES[int(rng.integers(0, len(_COMPANY_TRADES)))]
        name = f"杭州{_COMPANY_WORDS[words[0]]}{_COMPANY_WORDS[words[1]]}{trade}有限公司"
        if name in seen:
            name = name.replace("有限公司", f"第{len(names)}分公司")
        seen.add(name)
        names.append(name)
    codes: list[str] = []
    used: set[str] = set()
    while len(codes) < n:
        code = _credit_code(rng, HANGZHOU_DIVISIONS[len(codes) % len(HANGZHOU_DIVISIONS)])
        if code not in used:
            used.add(code)
            codes.append(code)
    return names, codes
