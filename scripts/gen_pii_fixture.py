#!/usr/bin/env python3
"""Writes tests/ingest/data/pii/cases.tsv: PII detector fixtures.

Each line is TYPE<TAB>TEXT<TAB>MATCH. TYPE is a pii.h type name and MATCH the
exact substring of TEXT that must be masked (one match per line), or TYPE is
"none" and TEXT must not match at all. Identifiers are random (fixed seed)
with their checksums computed here, so none belongs to a real person.
Usage: scripts/gen_pii_fixture.py > tests/ingest/data/pii/cases.tsv
"""
import random

R = random.Random(7)

EN = ["Please charge {} for the order.", "Contact: {}", "{}", "ID {} was verified.",
      "(see {})", "Record: {}; updated."]
ZH_T = ["電話{}請回撥", "客戶資料：{}。", "帳號為{}，謝謝", "請聯絡{}確認"]
ZH_S = ["电话{}请回拨", "客户资料：{}。", "账号为{}，谢谢", "请联系{}确认"]
CTX = EN + ZH_T + ZH_S


def digits(n):
    return "".join(R.choice("0123456789") for _ in range(n))


def luhn_digit(body):
    s = 0
    for k, ch in enumerate(reversed(body)):
        v = int(ch)
        if k % 2 == 0:
            v = v * 2
            v = v - 9 if v > 9 else v
        s += v
    return str((10 - s % 10) % 10)


def card(prefix, n):
    body = prefix + digits(n - 1 - len(prefix))
    return body + luhn_digit(body)


def group(s, sizes, sep):
    out, at = [], 0
    for z in sizes:
        out.append(s[at:at + z])
        at += z
    if at < len(s):
        out.append(s[at:])
    return sep.join(x for x in out if x)


IBAN_LEN = {"DE": 22, "GB": 22, "FR": 27, "NL": 18, "ES": 24, "IT": 27, "CH": 21,
            "BE": 16, "AT": 20, "PL": 28, "SE": 24, "NO": 15, "IE": 22, "PT": 25}


def iban_check(cc, bban):
    s = bban + cc + "00"
    num = "".join(str(int(c, 36)) for c in s)
    return "%02d" % (98 - int(num) % 97)


def iban(cc):
    n = IBAN_LEN[cc] - 4
    if cc in ("GB", "NL", "IE"):
        bban = "".join(R.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4)) + digits(n - 4)
    else:
        bban = digits(n)
    return cc + iban_check(cc, bban) + bban


TW_CODE = dict(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                   [10, 11, 12, 13, 14, 15, 16, 17, 34, 18, 19, 20, 21,
                    22, 35, 23, 24, 25, 26, 27, 28, 29, 32, 30, 31, 33]))


def tw_sum(s):
    c = TW_CODE[s[0]]
    t = c // 10 + (c % 10) * 9
    for k in range(1, 9):
        t += int(s[k]) * (9 - k)
    return t


def tw_id():
    s = R.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") + R.choice("12") + digits(7)
    return s + str((10 - tw_sum(s) % 10) % 10)


CN_W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def cn_check(s17):
    return "10X98765432"[sum(int(c) * w for c, w in zip(s17, CN_W)) % 11]


def cn_id(date=None):
    prov = R.choice(["11", "31", "44", "51", "65", "32", "33"])
    if date is None:
        date = "%04d%02d%02d" % (R.randint(1940, 2010), R.randint(1, 12), R.randint(1, 28))
    s = prov + digits(4) + date + digits(3)
    return s + cn_check(s)


rows = []


def pos(t, value, ctx=None):
    rows.append((t, (ctx or R.choice(CTX)).format(value), value))


def neg(text):
    rows.append(("none", text, ""))


# ---- checksum-validated positives ----
for _ in range(15):
    pos("card", card("4", 16))
    pos("card", group(card("5" + R.choice("12345"), 16), [4, 4, 4, 4], " "))
    pos("card", group(card("2" + R.choice("234567"), 16), [4, 4, 4, 4], "-"))
    pos("card", group(card("3" + R.choice("47"), 15), [4, 6, 5], " "))
for _ in range(6):
    pos("card", card("62", 19))
    pos("card", card("35", 16))
for k in range(60):
    cc = list(IBAN_LEN)[k % len(IBAN_LEN)]
    v = iban(cc)
    pos("iban", group(v, [4] * 8, " ") if k % 2 else v)
for _ in range(60):
    pos("tw_id", tw_id())
for k in range(60):
    v = cn_id()
    if k % 7 == 0 and v[-1] != "X":
        # make some IDs end in X (check value 2)
        for _ in range(200):
            v = cn_id()
            if v[-1] == "X":
                break
    pos("cn_id", v)
pos("cn_id", cn_id("20000229"))

# ---- other positives ----
for e in ["alice.chen@example.com", "bob+tag@mail.example.co.uk", "wang_wei@corp.example.cn",
          "li-na@sub.example.org", "x@example.tw", "zhang.san2024@example.com.cn",
          "first.last@example-mail.com", "hr-tw@example.com"]:
    for c in ["Write to {}.", "請寄信到{}謝謝", "请发邮件至{}。", "<{}>"]:
        pos("email", e, c)
for p in ["0912-345-678", "0912345678", "0912 345 678", "02-2345-6789", "(02)2345-6789",
          "(02) 2345 6789", "+886 912 345 678", "+886-2-2345-6789", "+886912345678",
          "13812345678", "138-1234-5678", "138 1234 5678", "+86 138 1234 5678",
          "+86-10-8765-4321", "010-12345678", "0755-8765-4321", "+1 206 555 0123",
          "+1 (206) 555-0123", "+44 20 7946 0958", "+14155552671", "04-2345-6789"]:
    for c in ["Call {} today.", "電話{}請", "联系电话：{}。", "phone: {}"]:
        pos("phone", p, c)
for s in ["123-45-6789", "078-05-1121", "512-30-4567", "899-99-9999"]:
    for c in ["SSN {}.", "社會安全號碼{}", "SSN: {}"]:
        pos("ssn", s, c)
for ip in ["192.168.1.20", "10.0.0.1", "8.8.8.8", "255.255.255.255", "172.16.254.3",
           "2001:db8::1", "fe80::1ff:fe23:4567:890a", "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
           "::ffff:192.0.2.128"]:
    for c in ["host {} is down", "伺服器{}無回應", "服务器地址：{}。"]:
        pos("ip", ip, c)
pos("ip", "10.1.2.3", "connect to {}:8080")

# ---- look-alike negatives ----
for _ in range(30):
    v = card("4", 16)
    neg(R.choice(CTX).format(v[:-1] + str((int(v[-1]) + 1) % 10)))  # bad Luhn
for _ in range(20):
    v = iban(R.choice(list(IBAN_LEN)))
    bad = v[:2] + "%02d" % ((int(v[2:4]) + 1) % 100) + v[4:]
    neg(R.choice(CTX).format(bad))
for _ in range(30):
    v = tw_id()
    neg(R.choice(CTX).format(v[:-1] + str((int(v[-1]) + 3) % 10)))
for _ in range(30):
    v = cn_id()
    c = "10X98765432"
    wrong = c[(c.index(v[-1]) + 1) % 11]
    neg(R.choice(CTX).format(v[:-1] + wrong))
for d in ["20231301", "20230230", "18991231", "21100101"]:  # bad birth dates, good checksum
    s = "110105" + d + "123"
    neg("身分證號" + s + cn_check(s))
for t in [
    "The meeting is on 2024-05-15 at 09:30.", "會議在2024年5月15日上午9:30舉行。",
    "会议定于2024/05/15 14:00召开。", "Released v2.3.1 on 2024.23.1", "Upgrade to 1.2.3.4.5 now",
    "ragd 0.1.0 requires SQLite 3.35", "Order #20240515001 shipped", "訂單編號 2024051500123",
    "订单号：202405150012345678", "Price: $1,299.00 or NT$38,900", "價格：NT$12,800元",
    "价格：¥1,380.00", "ISBN 978-0-306-40615-7", "ISBN 9780306406157", "Timestamp 1715760000",
    "Unix ms 1715760000123", "2024-05-15T03:20:00+00:00", "Extension 7100 in Taipei",
    "Call 206-555-0140 in Seattle", "Network 10.40.0.0/14 is internal", "Ratio 30-60-90",
    "Batch 2024-0000 through 2024-00000", "Build 20240515.3 passed", "Room 1203, floor 12",
    "Invoice INV-2024-000123", "Postcode 100-0001 and zip 98101-1234",
    "1234 5678 9012 3456 is not a card", "000-12-3456 is not an SSN", "666-12-3456",
    "912-34-5678", "123-00-4567", "123-45-0000", "Score 9.5/10 points", "300.1.2.3",
    "Version 01.02.03.04", "Time 12:30:45", "MAC 00:1a:2b:3c:4d:5e", "std::vector<int>",
    "Use :: as a separator", "loopback ::1", "Model A1 and B2", "SKU A123456789X",
    "user at example dot com", "name@localhost", "a@b.c", "email@123.456",
    "交易序號 09123456789012", "手機末四碼5678", "身分證後四碼1234", "統一編號 12345678",
    "分機 2345", "第1203號", "共13812件", "1381234567 is ten digits",
    "138123456789 is twelve digits", "+0 123 456 789", "+5 points", "Sensor 0912.345.678.1",
    "Lot 02-23-45", "Temperature 03-20-2024 12:30", "DE00 0000 0000 0000 0000 00",
    "F123456789A", "a123456789", "A323456789", "Items: 1, 2, 3, 4", "1/2/3/4",
    "Patch 4.5.6.7-beta1", "Doc ID 4111111111111111000", "Coordinates 25.0330, 121.5654",
    "Listen on 127.0.0.1:8080 or 0.0.0.0", "loopback ::1 and ::",
]:
    neg(t)

for t, text, m in rows:
    assert "\t" not in text and "\n" not in text
    print("%s\t%s\t%s" % (t, text, m))
