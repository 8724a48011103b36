#!/usr/bin/env python3
"""Writes the PDF fixtures of tests/ingest/test_loader_pdf.c.

The PDFs are written by hand, object by object (standard library only:
zlib for FlateDecode), so every byte is known; the qpdf command line then
derives the variants that need a real PDF writer: object and cross-reference
streams, and encryption. The generated files are committed, so the unit
tests need neither Python nor the qpdf tool. Output is the same on every run
but for the two encrypted files (AES-256 draws a random file key).

    scripts/gen_pdf_fixtures.py [OUT_DIR]   (default tests/ingest/data/pdf)
"""
import os
import subprocess
import sys
import zlib


class Pdf:
    """A PDF under construction: numbered objects, then a classic xref table."""

    def __init__(self):
        self.objs = []

    def reserve(self):
        self.objs.append(None)
        return len(self.objs)

    def add(self, body):
        self.objs.append(body if isinstance(body, bytes) else body.encode("latin-1"))
        return len(self.objs)

    def put(self, num, body):
        self.objs[num - 1] = body if isinstance(body, bytes) else body.encode("latin-1")

    @staticmethod
    def stream(entries, data, compress=False):
        if compress:
            data = zlib.compress(data, 9)
            entries += " /Filter /FlateDecode"
        head = "<< %s /Length %d >>\nstream\n" % (entries, len(data))
        return head.encode("latin-1") + data + b"\nendstream"

    def write(self, path, root, info=None):
        out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for i, body in enumerate(self.objs, 1):
            offsets.append(len(out))
            out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
        xref = len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(self.objs) + 1)
        for off in offsets:
            out += b"%010d 00000 n \n" % off
        trailer = "<< /Size %d /Root %d 0 R" % (len(self.objs) + 1, root)
        if info:
            trailer += " /Info %d 0 R" % info
        out += b"trailer\n" + trailer.encode() + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
        with open(path, "wb") as f:
            f.write(out)


def catalog(pdf, pages_num, kids, resources=""):
    kids_refs = " ".join("%d 0 R" % k for k in kids)
    pdf.put(pages_num, "<< /Type /Pages /Kids [%s] /Count %d /MediaBox [0 0 612 792] %s >>"
            % (kids_refs, len(kids), resources))
    return pdf.add("<< /Type /Catalog /Pages %d 0 R >>" % pages_num)


def page(pdf, pages_num, content_num, resources=""):
    return pdf.add("<< /Type /Page /Parent %d 0 R /Contents %d 0 R %s >>"
                   % (pages_num, content_num, resources))


HELVETICA = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
HELVETICA_BOLD = ("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold "
                  "/Encoding /WinAnsiEncoding >>")

# Page 1: a bold title, a paragraph over three lines (a hyphenated break, TJ
# kerning: small adjustments join, a large one separates words), a gap, a
# second paragraph. Page 2: the ' and " operators, WinAnsi bytes above 0x7F.
ENGLISH_PAGE1 = b"""BT
/F2 18 Tf
72 720 Td
(Annual Report 2023) Tj
/F1 12 Tf
0 -36 Td
14 TL
(The quick brown fox jumps over the lazy dog. This paragraph) Tj
T*
(contains an exam-) Tj
T*
[(ple of a hyphen) -20 (ated line break and ) (W) 120 (orld) -400 (wide kerning.)] TJ
0 -34 Td
(A second paragraph starts after a larger gap.) Tj
ET
"""
ENGLISH_PAGE2 = b"""BT
/F1 12 Tf
14 TL
72 720 Td
(Page two starts here with the euro sign \\200 and \\223quotes\\224.) Tj
(Second line via the quote operator.) '
2 0 (Third line via the double quote operator.) "
0 -40 Td
(Caf\\351 cr\\350me br\\373l\\351e) Tj
ET
"""


def english(path, compress=False):
    """Two pages of Helvetica text; fonts inherited from the page tree."""
    pdf = Pdf()
    pages = pdf.reserve()
    f1 = pdf.add(HELVETICA)
    f2 = pdf.add(HELVETICA_BOLD)
    c1 = pdf.add(Pdf.stream("", ENGLISH_PAGE1, compress))
    p1 = page(pdf, pages, c1)
    c2 = pdf.add(Pdf.stream("", ENGLISH_PAGE2, compress))
    p2 = page(pdf, pages, c2)
    root = catalog(pdf, pages, [p1, p2],
                   "/Resources << /Font << /F1 %d 0 R /F2 %d 0 R >> >>" % (f1, f2))
    info = pdf.add("<< /Title (Fixture Report) /Producer (ragd gen_pdf_fixtures.py) >>")
    pdf.write(path, root, info)


# A ToUnicode CMap for 2-byte Identity-H codes: bfchar (one a surrogate
# pair), bfrange with an array of values and with a start value.
CJK_CMAP = b"""/CIDInit /ProcSet findresource begin
12 dict begin
begincmap
/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def
/CMapName /Adobe-Identity-UCS def
/CMapType 2 def
1 begincodespacerange
<0000> <FFFF>
endcodespacerange
8 beginbfchar
<0001> <7B80>
<0002> <4F53>
<0003> <4E2D>
<0004> <6587>
<0005> <6D4B>
<0006> <8BD5>
<0007> <3002>
<0008> <D840DC00>
endbfchar
3 beginbfrange
<0020> <0023> [<7E41> <9AD4> <4E2D> <6587>]
<0024> <0025> [<6E2C> <8A66>]
<0030> <0032> <4E09>
endbfrange
endcmap
CMapName currentdict /CMap defineresource pop
end
end
"""
# Line 1: Traditional, line 2: Simplified (code 0099 has no mapping and must
# vanish), then after a gap a bfrange run and a character outside the BMP.
CJK_PAGE = b"""BT
/F1 16 Tf
72 720 Td
<0020002100220023002400250007> Tj
0 -24 Td
<00010002000300040005000600070099> Tj
0 -60 Td
<0030003100320008> Tj
ET
"""


def cjk(path):
    """A Type0 / Identity-H font with a ToUnicode CMap and no embedded font file."""
    pdf = Pdf()
    pages = pdf.reserve()
    cmap = pdf.add(Pdf.stream("", CJK_CMAP, compress=True))
    desc = pdf.add("<< /Type /FontDescriptor /FontName /NotoSansCJK /Flags 4 "
                   "/FontBBox [0 -120 1000 880] /ItalicAngle 0 /Ascent 880 /Descent -120 "
                   "/CapHeight 700 /StemV 80 >>")
    cid = pdf.add("<< /Type /Font /Subtype /CIDFontType2 /BaseFont /NotoSansCJK "
                  "/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
                  "/FontDescriptor %d 0 R /DW 1000 /W [1 [1000 1000] 32 35 1000] >>" % desc)
    font = pdf.add("<< /Type /Font /Subtype /Type0 /BaseFont /NotoSansCJK /Encoding /Identity-H "
                   "/DescendantFonts [%d 0 R] /ToUnicode %d 0 R >>" % (cid, cmap))
    content = pdf.add(Pdf.stream("", CJK_PAGE))
    p1 = page(pdf, pages, content, "/Resources << /Font << /F1 %d 0 R >> >>" % font)
    root = catalog(pdf, pages, [p1])
    pdf.write(path, root)


FORM_PAGE1 = b"""BT /F1 12 Tf 72 720 Td (Text on the page itself.) Tj ET
q 100 0 0 100 72 650 cm /Im1 Do Q
q 1 0 0 1 72 600 cm /Fm1 Do Q
"""
FORM_OUTER = b"""BT /F1 12 Tf 0 0 Td (Text inside a form XObject.) Tj ET
q 1 0 0 1 0 -60 cm /Fm2 Do Q
"""
FORM_INNER = b"BT /F1 12 Tf 0 0 Td (Text in a nested form.) Tj ET\n"
FORM_LOOP = b"BT /F1 12 Tf 72 700 Td (Loop) Tj ET\n/Loop Do\n"


def forms(path):
    """Page 1: text, an image, a form with a nested form (which inherits its
    resources). Page 2: a form that draws itself, cut at the depth limit."""
    pdf = Pdf()
    pages = pdf.reserve()
    f1 = pdf.add(HELVETICA)
    image = pdf.add(Pdf.stream("/Type /XObject /Subtype /Image /Width 1 /Height 1 "
                               "/ColorSpace /DeviceGray /BitsPerComponent 8", b"\x80"))
    inner = pdf.add(Pdf.stream("/Type /XObject /Subtype /Form /BBox [0 0 500 100]", FORM_INNER))
    outer = pdf.add(Pdf.stream("/Type /XObject /Subtype /Form /BBox [0 -100 500 100] "
                               "/Resources << /Font << /F1 %d 0 R >> /XObject << /Fm2 %d 0 R >> >>"
                               % (f1, inner), FORM_OUTER, compress=True))
    c1 = pdf.add(Pdf.stream("", FORM_PAGE1))
    p1 = page(pdf, pages, c1, "/Resources << /Font << /F1 %d 0 R >> "
              "/XObject << /Im1 %d 0 R /Fm1 %d 0 R >> >>" % (f1, image, outer))
    loop = pdf.reserve()
    pdf.put(loop, Pdf.stream("/Type /XObject /Subtype /Form /BBox [0 0 612 792] "
                             "/Resources << /Font << /F1 %d 0 R >> /XObject << /Loop %d 0 R >> >>"
                             % (f1, loop), FORM_LOOP))
    c2 = pdf.add(Pdf.stream("", b"/Loop Do\n"))
    p2 = page(pdf, pages, c2, "/Resources << /XObject << /Loop %d 0 R >> >>" % loop)
    root = catalog(pdf, pages, [p1, p2])
    pdf.write(path, root)


def qpdf(*args):
    subprocess.run(["qpdf", *args], check=True)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ingest", "data", "pdf")
    os.makedirs(out, exist_ok=True)

    def p(name):
        return os.path.join(out, name)

    english(p("english.pdf"))
    cjk(p("cjk.pdf"))
    forms(p("forms.pdf"))
    # the same text with compressed content in object streams and an xref stream
    flate = p("english-flate.tmp.pdf")
    english(flate, compress=True)
    qpdf("--object-streams=generate", "--deterministic-id", flate, p("objstm.pdf"))
    os.remove(flate)
    # AES-256: with a user password (must be refused), with an empty one (opens)
    static = ["--static-id", "--static-aes-iv"]
    qpdf(*static, "--encrypt", "user", "owner", "256", "--", p("english.pdf"),
         p("encrypted-user.pdf"))
    qpdf(*static, "--encrypt", "", "owner", "256", "--", p("english.pdf"),
         p("encrypted-empty.pdf"))


if __name__ == "__main__":
    main()
