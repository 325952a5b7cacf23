#!/usr/bin/env python3
"""Regenerates src/tables.rs from the specs' code tables.

Usage: tools/gen_tables.py <specs/codes directory> > src/tables.rs && cargo fmt -p passerelle-documents
"""
import csv
import os
import sys

codes = sys.argv[1]


def rows(name):
    with open(os.path.join(codes, name), encoding="utf-8") as f:
        return list(csv.DictReader(f))


def esc(s):
    return s.replace("\\", "\\\\").replace('"', '\\"')


out = [
    "//! Code tables generated from `specs/codes/` (JDV_J07 vs J66, 2024-09-27; ASS_X16, 2024-02-23).",
    "//! Regenerate with `tools/gen_tables.py` when the CSVs change.",
    "",
    "/// (code, display, codeSystem, in JDV_J07 CI-SIS, in JDV_J66 DMP)",
    "pub(crate) static TYPE_CODES: &[(&str, &str, &str, bool, bool)] = &[",
]
for r in rows("typecode_J07_cisis_vs_J66_dmp.csv"):
    j07 = str(r["in_JDV_J07_CISIS_20240927"] == "Y").lower()
    j66 = str(r["in_JDV_J66_TypeCode_DMP_20240927"] == "Y").lower()
    out.append(f'    ("{r["code"]}", "{esc(r["display"])}", "{r["codeSystem"]}", {j07}, {j66}),')
out += ["];", "", "/// ASS_X16: (typeCode, typeCodeSystem, classCode) with classCode in TRE_A03.",
        "pub(crate) static TYPE_TO_CLASS: &[(&str, &str, &str)] = &["]
for r in rows("typecode_to_classcode_ASS_X16_dmp.csv"):
    if r["classCodeSystem"] == "1.2.250.1.213.1.1.4.1":
        out.append(f'    ("{r["typeCode"]}", "{r["typeCodeSystem"]}", "{r["classCode"]}"),')
out += ["];", "", "/// TRE_A03 classes (JDV_J57): (code, display).",
        "pub(crate) static CLASS_CODES: &[(&str, &str)] = &["]
for r in rows("classcode_J57_dmp.csv"):
    if r["codeSystem"] == "1.2.250.1.213.1.1.4.1":
        out.append(f'    ("{r["code"]}", "{esc(r["display"])}"),')
out.append("];")
print("\n".join(out))
