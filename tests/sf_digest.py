#!/usr/bin/env python3
"""Checks SF open-platform msgDigest values with Python's own URL encoding, MD5 and base64:
code nobody on the Tote team wrote. Reads JSON lines {msgData, timestamp, checkword,
msgDigest}; prints "ok N" when all N verify, else names the first that does not and exits 1.

SF documents msgDigest = Base64(MD5(URLEncoder.encode(msgData + timestamp + checkWord,
"UTF-8"))). Java's URLEncoder keeps letters, digits and ".-*_" and writes a space as "+";
Python's quote_plus keeps "~" as well, so "~" is encoded by hand.
"""
import base64
import hashlib
import json
import sys
import urllib.parse


def java_urlencode(text):
    return urllib.parse.quote_plus(text, safe="*").replace("~", "%7E")


def digest(form):
    encoded = java_urlencode(form["msgData"] + form["timestamp"] + form["checkword"])
    return base64.b64encode(hashlib.md5(encoded.encode("utf-8")).digest()).decode("ascii")


count = 0
for line in sys.stdin:
    if not line.strip():
        continue
    form = json.loads(line)
    expected = digest(form)
    if expected != form["msgDigest"]:
        print(f"request {count} does not verify: expected {expected}, got {form['msgDigest']}")
        sys.exit(1)
    count += 1
print(f"ok {count}")
