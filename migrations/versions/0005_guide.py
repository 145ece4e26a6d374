"""Registration guide as data, and an index that finds Chinese text in unit locations.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

The public guide (办事指南) is what the offices publish and are measured against, so staff
edit it (the `cadastre guide` command, or /guide/edit for administrators and registrars)
without a release. Each kind of registration is one row, in Chinese and English. The seed is
the usual service commitment: ordinary registrations within 3 working days, mortgage
registrations within 1; fees after the national registration fee schedule.

Location search (坐落): the cluster runs with the C locale, where pg_trgm sees no trigram in
Chinese characters, so the trigram index of 0001 only helps with the digits of an address.
`location_bigrams(text)` lists the distinct two-character pieces of a text; a GIN index on it
over current units lets `location LIKE '%庆春东路%'` look at the few units that contain all of
庆春, 春东 and 东路 instead of reading them all.
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLE = r"""
CREATE TABLE guide_entries (
    kind text PRIMARY KEY CHECK (kind ~ '^[a-z][a-z0-9_]{1,40}$'),
    position smallint NOT NULL UNIQUE CHECK (position >= 1),
    title_zh text NOT NULL CHECK (btrim(title_zh) <> ''),
    title_en text NOT NULL CHECK (btrim(title_en) <> ''),
    summary_zh text NOT NULL DEFAULT '',
    summary_en text NOT NULL DEFAULT '',
    steps_zh text[] NOT NULL CHECK (cardinality(steps_zh) > 0 AND array_position(steps_zh, '') IS NULL),
    steps_en text[] NOT NULL CHECK (cardinality(steps_en) > 0 AND array_position(steps_en, '') IS NULL),
    documents_zh text[] NOT NULL CHECK (cardinality(documents_zh) > 0 AND array_position(documents_zh, '') IS NULL),
    documents_en text[] NOT NULL CHECK (cardinality(documents_en) > 0 AND array_position(documents_en, '') IS NULL),
    fees_zh text NOT NULL CHECK (btrim(fees_zh) <> ''),
    fees_en text NOT NULL CHECK (btrim(fees_en) <> ''),
    time_limit_days smallint NOT NULL CHECK (time_limit_days BETWEEN 1 AND 60),
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text NOT NULL DEFAULT 'migration 0005'
);
COMMENT ON TABLE guide_entries IS 'Public registration guide (办事指南): one row per kind of registration, edited by staff';
COMMENT ON COLUMN guide_entries.time_limit_days IS 'service commitment in working days';
"""

_STEPS_ZH = ["申请：当事人或其代理人在登记窗口或网上申请", "受理：登记机构查验申请材料，当场受理或一次性告知补正",
             "审核：查验不动产权属、查询限制状态（抵押、查封、异议）", "登簿：记载于不动产登记簿",
             "发证：核发不动产权证书或登记证明"]
_STEPS_EN = ["Apply at the counter or online, in person or through an agent",
             "Acceptance: the office checks the papers and accepts them, or lists once everything missing",
             "Review: the office checks the title and any restriction (mortgage, seizure, objection)",
             "Recording in the real estate register",
             "Issue of the certificate or registration certificate"]

SEED = [
    dict(kind="first_registration", position=1,
         title_zh="国有建设用地使用权及房屋所有权首次登记", title_en="First registration of land-use right and buildings",
         summary_zh="新建房屋竣工后，建设单位申请国有建设用地使用权及房屋所有权首次登记。",
         summary_en="After a new building is completed, the developer registers the land-use right and the building for the first time.",
         steps_zh=_STEPS_ZH, steps_en=_STEPS_EN,
         documents_zh=["不动产登记申请书", "申请人身份证明", "不动产权属来源证明（土地出让合同及价款缴清证明）",
                       "建设工程符合规划的材料、竣工验收材料", "不动产权籍调查成果（宗地图、房产分户图）"],
         documents_en=["Application form", "Identity document of the applicant",
                       "Title documents (land grant contract and proof of payment)",
                       "Planning compliance and completion acceptance documents",
                       "Cadastral survey results (parcel drawing, floor plans)"],
         fees_zh="住宅每件 80 元；非住宅每件 550 元；每增加一本证书加收工本费 10 元。",
         fees_en="Residential: 80 yuan per case; non-residential: 550 yuan per case; 10 yuan for each additional certificate.",
         time_limit_days=3),
    dict(kind="transfer", position=2,
         title_zh="房屋所有权转移登记（买卖、赠与、继承）", title_en="Transfer registration (sale, gift, inheritance)",
         summary_zh="不动产因买卖、赠与、继承等发生权属转移的，由双方共同申请转移登记。",
         summary_en="When a property changes hands by sale, gift or inheritance, both parties apply together.",
         steps_zh=_STEPS_ZH, steps_en=_STEPS_EN,
         documents_zh=["不动产登记申请书", "双方身份证明", "不动产权证书", "买卖合同、赠与合同或继承公证书等",
                       "完税凭证", "共有人同意处分的书面材料（共有的）"],
         documents_en=["Application form", "Identity documents of both parties", "Real estate certificate",
                       "Sale or gift contract, or notarised inheritance deed", "Tax receipts",
                       "Written consent of the co-owners (for co-owned property)"],
         fees_zh="住宅每件 80 元；非住宅每件 550 元；小微企业免收。",
         fees_en="Residential: 80 yuan per case; non-residential: 550 yuan per case; free for small and micro enterprises.",
         time_limit_days=3),
    dict(kind="mortgage", position=3,
         title_zh="抵押权首次登记", title_en="Mortgage registration",
         summary_zh="以不动产设定抵押的，由抵押人和抵押权人共同申请；可申请最高额抵押。",
         summary_en="The mortgagor and the mortgagee apply together; a maximum-amount mortgage may be registered.",
         steps_zh=_STEPS_ZH[:4] + ["发证：核发不动产登记证明"], steps_en=_STEPS_EN[:4] + ["Issue of the registration certificate"],
         documents_zh=["不动产登记申请书", "双方身份证明", "不动产权证书", "抵押合同及主债权合同"],
         documents_en=["Application form", "Identity documents of both parties", "Real estate certificate",
                       "Mortgage contract and loan agreement"],
         fees_zh="住宅每件 80 元；非住宅每件 550 元。",
         fees_en="Residential: 80 yuan per case; non-residential: 550 yuan per case.",
         time_limit_days=1),
    dict(kind="mortgage_discharge", position=4,
         title_zh="抵押权注销登记", title_en="Discharge of a mortgage",
         summary_zh="主债权消灭或抵押权人放弃抵押权的，申请注销抵押登记。",
         summary_en="When the loan is repaid or the mortgagee waives the mortgage, its registration is discharged.",
         steps_zh=["申请", "受理", "审核", "登簿"], steps_en=["Apply", "Acceptance", "Review", "Recording in the register"],
         documents_zh=["不动产登记申请书", "申请人身份证明", "不动产登记证明", "抵押权消灭的材料（还款证明或抵押权人同意注销的书面材料）"],
         documents_en=["Application form", "Identity document of the applicant", "Registration certificate of the mortgage",
                       "Proof that the mortgage ended (repayment, or the mortgagee's written consent)"],
         fees_zh="不收取登记费。", fees_en="No registration fee.",
         time_limit_days=1),
    dict(kind="change", position=5,
         title_zh="变更登记（姓名、名称、坐落、用途、面积等变化）", title_en="Change registration (name, address, use, area)",
         summary_zh="权利人姓名或名称、不动产坐落、用途、面积等发生变化但权属不变的，申请变更登记。",
         summary_en="When the holder's name, the address, the use or the area changes but the owner does not.",
         steps_zh=_STEPS_ZH, steps_en=_STEPS_EN,
         documents_zh=["不动产登记申请书", "申请人身份证明", "不动产权证书", "变更的证明材料"],
         documents_en=["Application form", "Identity document of the applicant", "Real estate certificate",
                       "Proof of the change"],
         fees_zh="不收取登记费；换发证书的收取工本费每本 10 元。",
         fees_en="No registration fee; 10 yuan per replacement certificate.",
         time_limit_days=3),
    dict(kind="objection", position=6,
         title_zh="异议登记与更正登记", title_en="Objection and correction",
         summary_zh="利害关系人认为登记簿记载错误的，可申请更正登记；权利人不同意更正的，可申请异议登记。",
         summary_en="Anyone concerned who believes the register is wrong may ask for a correction; if the holder disagrees, an objection may be registered.",
         steps_zh=["申请", "受理", "审核", "登簿并书面通知权利人"],
         steps_en=["Apply", "Acceptance", "Review", "Recording, and written notice to the holder"],
         documents_zh=["不动产登记申请书", "申请人身份证明", "证实登记确有错误或利害关系的材料"],
         documents_en=["Application form", "Identity document of the applicant",
                       "Evidence of the error or of the applicant's interest"],
         fees_zh="不收取登记费。", fees_en="No registration fee.",
         time_limit_days=1),
]


def _array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join(_literal(v) for v in values) + "]::text[]"


def _literal(value: object) -> str:
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


# Idempotent: the benchmark district got this index by hand before the migration reached it.
LOCATION_INDEX = r"""
CREATE OR REPLACE FUNCTION location_bigrams(text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(DISTINCT substr($1, i, 2)), '{}')
      FROM generate_series(1, length($1) - 1) AS i
$$;
COMMENT ON FUNCTION location_bigrams(text) IS 'distinct two-character pieces of a text: indexes Chinese locations where pg_trgm cannot (C locale)';
CREATE INDEX IF NOT EXISTS units_location_bigrams ON units USING gin (location_bigrams(location))
    WHERE end_lifespan IS NULL;
"""


def upgrade() -> None:
    op.execute(TABLE)
    op.execute(LOCATION_INDEX)
    columns = list(SEED[0])
    rows = []
    for entry in SEED:
        rows.append("(" + ", ".join(
            _array(entry[c]) if isinstance(entry[c], list) else _literal(entry[c]) for c in columns) + ")")
    # The seed is constant data of this file, quoted by _literal.
    values = ",\n".join(rows)
    op.execute(f"INSERT INTO guide_entries ({', '.join(columns)}) VALUES {values}")  # noqa: S608


def downgrade() -> None:
    op.execute("DROP INDEX units_location_bigrams")
    op.execute("DROP FUNCTION location_bigrams(text)")
    op.execute("DROP TABLE guide_entries")
