"""Short forms of issuing bodies, as staff type them: 发改委 for 发展和改革委员会.

Documents sign with a body's full name; people filter by its common short form. A filter value
matches a document's issuer when the value itself, or the value with a short form spelled out,
is part of the issuer (``天津市发改委`` → ``天津市发展和改革委员会``). The table holds the short
forms of bodies in general use across provinces and cities, not names of one corpus.
"""

from __future__ import annotations

SHORT_FORMS: dict[str, tuple[str, ...]] = {
    "发改委": ("发展和改革委员会", "发展改革委员会"),
    "发改局": ("发展和改革局",),
    "住建委": ("住房和城乡建设委员会", "住房和建设委员会"),
    "住建局": ("住房和城乡建设局",),
    "住建厅": ("住房和城乡建设厅",),
    "人社局": ("人力资源和社会保障局",),
    "人社厅": ("人力资源和社会保障厅",),
    "医保局": ("医疗保障局",),
    "卫健委": ("卫生健康委员会", "卫生和健康委员会"),
    "卫健局": ("卫生健康局",),
    "市场监管委": ("市场监督管理委员会",),
    "市场监管局": ("市场监督管理局",),
    "科技局": ("科学技术局",),
    "科技厅": ("科学技术厅",),
    "教委": ("教育委员会",),
    "交通委": ("交通运输委员会",),
    "城管委": ("城市管理委员会",),
    "农委": ("农业农村委员会",),
    "文旅局": ("文化和旅游局",),
    "文旅厅": ("文化和旅游厅",),
    "金融局": ("地方金融监督管理局", "金融工作局"),
    "规划资源局": ("规划和自然资源局",),
    "生态环境局": ("生态环境局",),
    "应急局": ("应急管理局",),
    "应急厅": ("应急管理厅",),
}


def issuer_forms(value: str | None) -> tuple[str, ...] | None:
    """The filter value and its spelled-out forms, any of which may be part of an issuer."""
    if not value or not value.strip():
        return None
    value = value.strip()
    forms = [value]
    for short, full_names in SHORT_FORMS.items():
        if short in value:
            forms += [value.replace(short, full) for full in full_names]
    return tuple(dict.fromkeys(forms))
