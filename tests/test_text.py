"""Text from units: NFC, invisible characters removed, legacy fonts (TCVN3, VNI) converted only when sure."""

from __future__ import annotations

import pickle
import unicodedata

import pytest

from tasks.text import (
    LegacyText,
    clean,
    convert_legacy,
    detect_legacy,
    font_encoding,
    from_legacy,
    label_key,
    normalise_text,
    strip_invisible,
)


@pytest.mark.parametrize(("vni", "unicode"), [
    ("aù", "á"), ("Thaéng", "Thắng"), ("Xin chaøo caùc baïn", "Xin chào các bạn"),
    ("Ñaø Naüng", "Đà Nẵng"), ("ngöôøi", "người"), ("Quaûng Ninh", "Quảng Ninh"), ("THAÉNG LÔÏI", "THẮNG LỢI"),
    ("Tuyeân Quang", "Tuyên Quang"), ("thuû tuïc haønh chính", "thủ tục hành chính"), ("kyõ thuaät", "kỹ thuật"),
    ("Sôû Noäi vuï", "Sở Nội vụ"), ("hoäi nghò", "hội nghị"), ("yù kieán", "ý kiến"), ("tyû leä", "tỷ lệ"),
])
def test_vni_sequences_longest_first(vni, unicode):
    assert convert_legacy(vni, "VNI") == unicode
    assert unicodedata.is_normalized("NFC", convert_legacy(vni, "VNI"))


def test_tcvn3_is_unchanged():
    assert convert_legacy("Tæ chøc héi nghÞ t¹i huyÖn B¶o Th¾ng", "TCVN3") == "Tổ chức hội nghị tại huyện Bảo Thắng"
    assert from_legacy("B¶o Th¾ng") == ("Bảo Thắng", True)


@pytest.mark.parametrize(("text", "guess"), [
    ("Toå chöùc hoäi nghò", "VNI"), ("Tæ chøc héi nghÞ t¹i B¶o Th¾ng", "TCVN3"),
    ("Tæ chøc héi nghÞ", None),  # no TCVN3-only symbol: only the cell's .VnTime font can tell
    ("Café où l'on mange", None),  # one pair only: French, not VNI
    ("Tổ chức hội nghị", None), ("Hội nghị ôn tập", None), ("Tuyên truyền 95%", None), ("Giá 5.000 đồng", None),
    ("Ghi chú ¶ không rõ", None), ("", None), ("Zürich Ørsted Ænima", None),
])
def test_heuristic_is_conservative(text, guess):
    assert detect_legacy(text) == guess


@pytest.mark.parametrize(("font", "encoding"), [
    (".VnTime", "TCVN3"), (".VnTimeH", "TCVN3"), (".vnArial", "TCVN3"), ("VNI-Times", "VNI"),
    ("VNI-Helve", "VNI"), ("Times New Roman", None), ("Vni", None), (None, None), ("Arial", None),
])
def test_font_names(font, encoding):
    assert font_encoding(font) == encoding


def test_invisible_characters_are_removed_and_named():
    text = "Hội\u202e nghị\u200f\u2066 \x07tháng\u00ad 3\r\ndòng 2\u2028dòng 3\ufeff\tcột"
    assert strip_invisible(text) == ("Hội nghị tháng 3\ndòng 2\ndòng 3\tcột",
                                     ("U+202E", "U+200F", "U+2066", "U+0007", "U+00AD", "U+FEFF"))
    assert strip_invisible("Bình thường\n") == ("Bình thường\n", ())


def test_normalise_text_reports_what_it_did():
    nfd = unicodedata.normalize("NFD", "Đã tổ chức")
    assert normalise_text(f"  {nfd}\u202e ") == normalise_text("Đã tổ chức\u202e")
    assert normalise_text("Đã tổ chức\u202e").removed == ("U+202E",)
    assert normalise_text("Toå chöùc hoäi nghò").text == "Tổ chức hội nghị"
    assert normalise_text("Toå chöùc hoäi nghò").legacy == "VNI"
    in_font = normalise_text(LegacyText("Thaéng", "VNI"))  # one pair: only the font can tell
    assert (in_font.text, in_font.legacy, type(in_font.text)) == ("Thắng", "VNI", str)
    pasted = normalise_text(LegacyText("Mã đơn vị", "TCVN3"))  # Unicode pasted into a .VnTime cell
    assert (pasted.text, pasted.legacy) == ("Mã đơn vị", None)


def test_legacy_text_survives_pickling_and_is_a_str():
    value = pickle.loads(pickle.dumps(LegacyText("Thaéng", "VNI")))
    assert value == "Thaéng" and value.encoding == "VNI" and isinstance(value, str)
    assert from_legacy(value) == ("Thắng", True)
    assert from_legacy(LegacyText("Tổ chức", "TCVN3")) == ("Tổ chức", False)


def test_labels_and_codes_ignore_invisible_marks():
    assert clean(" VP\u200f ") == "VP"
    assert label_key("Mã\u202a đơn vị:\u202c") == label_key(unicodedata.normalize("NFD", " mã  ĐƠN VỊ "))
