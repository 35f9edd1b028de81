#!/usr/bin/env bash
# Install what PDF output needs (tasks/render/pdf.py and tests/test_pdf.py): LibreOffice Writer and
# Calc (headless, to convert .docx/.xlsx), poppler-utils (pdffonts, pdftotext, pdftoppm) and
# Liberation Serif (metric-compatible with Times New Roman, so a server without Times New Roman
# lays the report out exactly as Word does). fonts-liberation2 is the one that matters: the 1.07
# fonts of fonts-liberation have no Vietnamese letters (ạ, ố, ữ ...), so LibreOffice takes those
# from DejaVu Serif and the PDF is refused by the font check.
# Idempotent and quiet: skips whatever is already present. Root or sudo.
set -euo pipefail
pkgs=(fonts-liberation fonts-liberation2 poppler-utils)
# Writer converts the report, Calc the units' workbook (tests render it to check the labels).
# A desktop install (libreoffice-writer/-calc) will do; otherwise the no-GUI builds.
dpkg -s libreoffice-writer >/dev/null 2>&1 || pkgs+=(libreoffice-writer-nogui)
dpkg -s libreoffice-calc >/dev/null 2>&1 || pkgs+=(libreoffice-calc-nogui)
missing=()
for pkg in "${pkgs[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  # wait for another apt run (up to 10 minutes) instead of failing on the dpkg lock
  lock=(-o DPkg::Lock::Timeout=600)
  echo "ensure-pdf-deps: installing ${missing[*]} ..."
  $SUDO apt-get "${lock[@]}" update -qq
  $SUDO apt-get "${lock[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! fc-list ":charset=1ea1" family 2>/dev/null | grep -qi "Liberation Serif"; then
  echo "ensure-pdf-deps: Liberation Serif with Vietnamese letters not found after install" >&2
  exit 1
fi
