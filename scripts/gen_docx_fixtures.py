#!/usr/bin/env python3
"""Writes the DOCX loader fixtures into tests/ingest/data/docx/.

Standard library only (zipfile): each fixture is the smallest WordprocessingML
package that exercises one part of ingest/loader_docx.c. Entries carry a fixed
timestamp, so running the script again gives byte-identical files.
Usage: scripts/gen_docx_fixtures.py [OUT_DIR]

  sample.docx     title in docProps/core.xml; Heading1, a style id whose
                  styles.xml name is "heading 2", paragraphs with runs, tabs,
                  breaks, a hyperlink, a content control and deleted text;
                  list items; a table with Traditional and Simplified Chinese
                  and a nested table
  bomb.docx       word/document.xml declares 4 GiB uncompressed
  inflate.docx    word/document.xml declares 1 KiB but inflates to 65 MiB
                  (deflate, about 64 KiB on disk)
  bzip2.docx      a good document whose parts are bzip2-compressed, which
                  the package format does not allow (stored or deflate only)
  deep.docx       tables nested deeper than the loader walks
  notword.docx    a zip without word/document.xml
  badparts.docx   damaged styles.xml and core.xml around a good document
  encrypted.docx  an OLE compound file with an EncryptedPackage stream, the
                  container Word writes for password-protected documents
  truncated.docx  the first half of sample.docx
"""
import io
import os
import struct
import sys
import zipfile

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
STAMP = (1980, 1, 1, 0, 0, 0)

CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/word/document.xml"
 ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>
</Types>"""

RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Target="word/document.xml"
 Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/>
</Relationships>"""

CORE = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties
 xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<dc:title>Quarterly Report</dc:title><dc:creator>Fixture</dc:creator>
</cp:coreProperties>"""

STYLES = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:styles xmlns:w="{W}">
<w:style w:type="paragraph" w:styleId="Normal"><w:name w:val="Normal"/></w:style>
<w:style w:type="paragraph" w:styleId="Kop2"><w:name w:val="heading 2"/></w:style>
<w:style w:type="paragraph" w:styleId="Bullets"><w:name w:val="Bullet Text"/>
<w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="2"/></w:numPr></w:pPr></w:style>
</w:styles>"""


def para(text, style=None, num=False):
    ppr = ""
    if style or num:
        ppr = "<w:pPr>"
        if style:
            ppr += f'<w:pStyle w:val="{style}"/>'
        if num:
            ppr += '<w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr>'
        ppr += "</w:pPr>"
    return f"<w:p>{ppr}<w:r><w:t>{text}</w:t></w:r></w:p>"


def cell(inner):
    return f"<w:tc><w:tcPr/>{inner}</w:tc>"


def row(*cells):
    return "<w:tr>" + "".join(cell(c) for c in cells) + "</w:tr>"


def document(body):
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<w:document xmlns:w="{W}"><w:body>{body}<w:sectPr/></w:body></w:document>')


SAMPLE_BODY = "".join([
    para("Introduction", "Heading1"),
    "<w:p><w:r><w:t xml:space=\"preserve\">First </w:t></w:r>"
    "<w:r><w:rPr><w:b/></w:rPr><w:t>paragraph</w:t></w:r>"
    "<w:r><w:tab/><w:t>after a tab</w:t><w:br/><w:t>after a break</w:t></w:r>"
    "<w:del><w:r><w:delText>removed words</w:delText></w:r></w:del>"
    "<w:hyperlink><w:r><w:t xml:space=\"preserve\"> and a link</w:t></w:r></w:hyperlink>"
    "<w:r><w:t>.</w:t></w:r></w:p>",
    para("Details", "Kop2"),
    para("Item one", num=True),
    para("Item two", num=True),
    para("Styled item", "Bullets"),
    "<w:sdt><w:sdtPr/><w:sdtContent>" + para("Inside a content control") +
    "</w:sdtContent></w:sdt>",
    "<w:tbl><w:tblPr/>",
    row(para("名稱"), para("说明")),
    row(para("資料庫"), para("数据库") + para("第二段")),
    row(para(""), para("")),
    row(para("outer"), "<w:tbl>" + row(para("in1"), para("in2")) + row(para("in3"), para("")) +
        "</w:tbl>"),
    "</w:tbl>",
    para("繁體中文段落。简体中文段落。"),
    para("Closing words", "Title"),
])


def deep_body(levels):
    inner = para("deep text")
    for _ in range(levels):
        inner = "<w:tbl>" + row(inner) + "</w:tbl>"
    return inner


def write_zip(path, entries, patch_size=None, method=zipfile.ZIP_DEFLATED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries:
            info = zipfile.ZipInfo(name, STAMP)
            info.compress_type = method
            z.writestr(info, data)
    data = bytearray(buf.getvalue())
    if patch_size:
        name, size = patch_size
        patch_declared_size(data, name.encode(), size)
    with open(path, "wb") as f:
        f.write(data)
    return bytes(data)


def patch_declared_size(data, name, size):
    """Sets the uncompressed size of entry `name` in its local header and
    its central directory record, as a zip bomb would declare it."""
    pos = 0
    while True:
        pos = data.find(name, pos)
        if pos < 0:
            return
        if data[pos - 30:pos - 26] == b"PK\x03\x04":
            struct.pack_into("<I", data, pos - 30 + 22, size)
        elif data[pos - 46:pos - 42] == b"PK\x01\x02":
            struct.pack_into("<I", data, pos - 46 + 24, size)
        pos += len(name)


def ole_encrypted():
    """An OLE compound file header plus a directory entry named EncryptedPackage."""
    header = bytearray(512)
    header[0:8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"
    struct.pack_into("<HHH", header, 24, 0x3E, 3, 0xFFFE)
    entry = bytearray(128)
    name = "EncryptedPackage".encode("utf-16-le") + b"\0\0"
    entry[0:len(name)] = name
    struct.pack_into("<H", entry, 64, len(name))
    entry[66] = 2  # a stream
    return bytes(header) + bytes(entry) * 1 + bytes(384)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ingest", "data", "docx")
    os.makedirs(out, exist_ok=True)
    base = [("[Content_Types].xml", CONTENT_TYPES), ("_rels/.rels", RELS)]
    sample = write_zip(os.path.join(out, "sample.docx"), base + [
        ("docProps/core.xml", CORE), ("word/styles.xml", STYLES),
        ("word/document.xml", document(SAMPLE_BODY))])
    write_zip(os.path.join(out, "bomb.docx"),
              base + [("word/document.xml", document(para("small")))],
              patch_size=("word/document.xml", 0xFFFFFFF0))
    write_zip(os.path.join(out, "inflate.docx"),
              [("word/document.xml", document(" " * (65 << 20)))],
              patch_size=("word/document.xml", 1024))
    write_zip(os.path.join(out, "bzip2.docx"),
              base + [("word/document.xml", document(para("Packed with bzip2")))],
              method=zipfile.ZIP_BZIP2)
    write_zip(os.path.join(out, "deep.docx"),
              base + [("word/document.xml", document(deep_body(60)))])
    write_zip(os.path.join(out, "badparts.docx"), base + [
        ("docProps/core.xml", CORE[:120]), ("word/styles.xml", STYLES[:200]),
        ("word/document.xml", document(para("Kept heading", "Heading2") + para("Kept text")))])
    write_zip(os.path.join(out, "notword.docx"), [("hello.txt", "not a Word document")])
    with open(os.path.join(out, "encrypted.docx"), "wb") as f:
        f.write(ole_encrypted())
    with open(os.path.join(out, "truncated.docx"), "wb") as f:
        f.write(sample[:len(sample) // 2])


if __name__ == "__main__":
    main()
