#!/usr/bin/env python3
"""The payment channels' own SDKs as peers of central's WeChat Pay, Alipay and Stripe code.

usage: payment_peers.py COMMAND  (one JSON object on stdin, one JSON object on stdout)
Each command calls the SDK's real functions: wechatpayv3 2.0.4 (the most used independent
WeChat Pay v3 SDK), alipay-sdk-python 3.7.1411 (Alipay's official one) and stripe 16.1.0
(Stripe's official one); tests/run.sh installs exactly those. It is not a payment server and
does no HTTP: nothing leaves the machine (wechatpayv3's certificate download is switched off).

  wechat-authorization  {mchid, serial_no, private_key_pem, method, url, timestamp, nonce, body}
                        -> {authorization}   (the SDK's header, with its clock set to timestamp)
  wechat-callback       {headers, body, mchid, appid, apiv3_key, merchant_private_key_pem,
                         merchant_serial_no, platform_public_key_pem, platform_public_key_id}
                        -> {ok, resource | error}
  wechat-notify         {platform_private_key_pem, platform_public_key_id, apiv3_key, event_type,
                         original_type, resource, id, create_time[, summary, timestamp]}
                        -> {headers, body}
  alipay-sign           {params, private_key_pem, notification} -> {sign_content, sign}
  alipay-verify         {params (with sign), public_key_pem, notification} -> {ok[, error]}
  alipay-verify-content {content, sign, public_key_pem} or {response, public_key_pem}
                        -> {ok[, error]}   (response: a whole gateway answer, cut by the SDK)
  stripe-sign           {payload, secret[, timestamp]} -> {header}
  stripe-verify         {payload, header, secret[, tolerance]} -> {ok[, error]}
  self-test             (no input) round trips between the commands; exit 1 on failure

Exit 0 when the command ran, a refused verification included ({"ok": false, ...}); exit 2 with a
message on stderr when the input is malformed or an SDK is missing.
Keys are PEM: WeChat private keys PKCS#8 (the SDK adds the PKCS#8 markers to bare base64),
Alipay private keys PKCS#1; public keys SubjectPublicKeyInfo ("BEGIN PUBLIC KEY").
Neither wechatpayv3's callback nor the Alipay SDK checks a timestamp window: only Stripe does.
"""
import base64
import importlib
import json
import secrets
import sys
import time
import types
from unittest import mock

SDKS = {"wechatpayv3": "wechatpayv3==2.0.4", "alipay": "alipay-sdk-python==3.7.1411",
        "stripe": "stripe==16.1.0"}
WECHAT_SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"


class Malformed(Exception):
    pass


def die(message):
    print(message, file=sys.stderr)
    sys.exit(2)


def sdk(module):
    """Imports an SDK module, or exits 2 saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        pin = SDKS[module.split(".")[0]]
        die(f"payment_peers.py: the SDK {pin} is missing ({e}); `bash tests/run.sh` installs it")


def need(obj, key, kind=str):
    if key not in obj or not isinstance(obj[key], kind) or isinstance(obj[key], bool) != (kind is bool):
        raise Malformed(f"field {key!r} must be a {getattr(kind, '__name__', kind)}")
    return obj[key]


# --- WeChat Pay (wechatpayv3) ---

def wechat_authorization(req):
    utils = sdk("wechatpayv3.utils")
    key = utils.load_private_key(need(req, "private_key_pem"))
    ts = need(req, "timestamp", int)
    # build_authorization reads int(time.time()) through its module's `time`: that clock is set.
    with mock.patch.object(utils, "time", types.SimpleNamespace(time=lambda: ts)):
        header = utils.build_authorization(need(req, "url"), need(req, "method"), need(req, "mchid"),
                                           need(req, "serial_no"), key, data=need(req, "body"),
                                           nonce_str=need(req, "nonce"))
    return {"authorization": header}


def wechat_client(req):
    """A WeChatPay in platform-public-key mode: built offline, never downloads certificates."""
    wechatpayv3 = sdk("wechatpayv3")
    pay = wechatpayv3.WeChatPay(
        wechatpay_type=wechatpayv3.WeChatPayType.NATIVE, mchid=need(req, "mchid"),
        private_key=need(req, "merchant_private_key_pem"), cert_serial_no=need(req, "merchant_serial_no"),
        appid=need(req, "appid"), apiv3_key=need(req, "apiv3_key"),
        public_key=need(req, "platform_public_key_pem"), public_key_id=need(req, "platform_public_key_id"))
    # An unknown Wechatpay-Serial makes the SDK fetch /v3/certificates: here it finds none.
    pay._core._update_certificates = lambda: None
    return pay


def wechat_callback(req):
    pay = wechat_client(req)
    # HTTP header names are case-insensitive; the SDK looks up 'Wechatpay-Signature' or, for
    # FastAPI, 'wechatpay-signature' exactly: lower-case names always take its second path.
    headers = {str(k).lower(): v for k, v in need(req, "headers", dict).items()}
    try:
        result = pay.callback(headers, need(req, "body"))
    except Exception as e:  # unsupported Signature-Type or algorithm, a serial that is not hex
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}
    if result is None:
        return {"ok": False, "error": "wechatpayv3 callback() refused it (signature, serial or decryption)"}
    return {"ok": True, "resource": result["resource"]}


def wechat_notify(req):
    """A notification as WeChat Pay sends it: the resource AES-256-GCM encrypted with the APIv3 key
    (the SDK only decrypts, so the `cryptography` AESGCM it decrypts with), signed by rsa_sign."""
    utils = sdk("wechatpayv3.utils")
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    key = utils.load_private_key(need(req, "platform_private_key_pem"))
    nonce, aad = secrets.token_hex(6), req.get("associated_data", "transaction")
    plain = json.dumps(need(req, "resource", dict), ensure_ascii=False, separators=(",", ":"))
    cipher = AESGCM(need(req, "apiv3_key").encode()).encrypt(nonce.encode(), plain.encode(), aad.encode())
    body = json.dumps({
        "id": need(req, "id"), "create_time": need(req, "create_time"), "resource_type": "encrypt-resource",
        "event_type": need(req, "event_type"), "summary": req.get("summary", ""),
        "resource": {"original_type": need(req, "original_type"), "algorithm": "AEAD_AES_256_GCM",
                     "ciphertext": base64.b64encode(cipher).decode(), "associated_data": aad, "nonce": nonce},
    }, ensure_ascii=False, separators=(",", ":"))
    ts, header_nonce = str(req.get("timestamp", int(time.time()))), secrets.token_hex(16).upper()
    signature = utils.rsa_sign(key, f"{ts}\n{header_nonce}\n{body}\n")
    headers = {"Wechatpay-Serial": need(req, "platform_public_key_id"), "Wechatpay-Signature": signature,
               "Wechatpay-Timestamp": ts, "Wechatpay-Nonce": header_nonce,
               "Wechatpay-Signature-Type": WECHAT_SIGNATURE_TYPE}
    return {"headers": headers, "body": body}


# --- Alipay (alipay-sdk-python) ---

def alipay_content(req):
    """The SDK's sorted k=v&k=v string over the params, less `sign` (and `sign_type` for a
    notification). The SDK keeps empty values and writes non-strings as JSON."""
    dropped = ("sign", "sign_type") if need(req, "notification", bool) else ("sign",)
    params = {k: v for k, v in need(req, "params", dict).items() if k not in dropped}
    return sdk("alipay.aop.api.util.SignatureUtils").get_sign_content(params)


def pkcs1(pem):
    """The SDK reads only PKCS#1 private keys; a PKCS#8 one is the same key in another wrapper."""
    if "BEGIN PRIVATE KEY" not in pem:
        return pem
    from cryptography.hazmat.primitives import serialization
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption()).decode()


def alipay_sign(req):
    content = alipay_content(req)
    sign = sdk("alipay.aop.api.util.SignatureUtils").sign_with_rsa2(pkcs1(need(req, "private_key_pem")), content, "utf-8")
    return {"sign_content": content, "sign": sign}


def alipay_check(public_key, content, sign):
    utils = sdk("alipay.aop.api.util.SignatureUtils")
    try:  # raises on a mismatch (rsa.VerificationError), a bad key or bad base64
        ok = utils.verify_with_rsa(public_key, content.encode("utf-8"), sign)
    except Exception as e:
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}
    return {"ok": ok} if ok else {"ok": False, "error": "verify_with_rsa returned false"}


def alipay_verify(req):
    sign = need(req, "params", dict).get("sign")
    if not isinstance(sign, str) or not sign:
        return {"ok": False, "error": "no sign parameter"}
    return alipay_check(need(req, "public_key_pem"), alipay_content(req), sign)


def alipay_verify_content(req):
    if "response" not in req:
        return alipay_check(need(req, "public_key_pem"), need(req, "content"), need(req, "sign"))
    api = sdk("alipay.aop.api.DefaultAlipayClient")
    config = sdk("alipay.aop.api.AlipayClientConfig").AlipayClientConfig()
    config.alipay_public_key = need(req, "public_key_pem")
    client = api.DefaultAlipayClient(config)
    api.THREAD_LOCAL.logger, api.THREAD_LOCAL.uuid = None, "payment_peers"
    try:  # the SDK's own cut of `..._response` and `sign` out of the answer, then its check
        client._DefaultAlipayClient__parse_response(need(req, "response").encode("utf-8"))
    except Exception as e:
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}
    return {"ok": True}


# --- Stripe (stripe) ---

def stripe_sign(req):
    ts = req.get("timestamp")
    if ts is not None and not isinstance(ts, int):
        raise Malformed("field 'timestamp' must be an int")
    return {"header": sdk("stripe").WebhookSignature.generate_signature_header(
        need(req, "payload"), need(req, "secret"), timestamp=ts)}


def stripe_verify(req):
    stripe = sdk("stripe")
    tolerance = req.get("tolerance", stripe.Webhook.DEFAULT_TOLERANCE)
    try:
        stripe.WebhookSignature.verify_header(need(req, "payload"), need(req, "header"), need(req, "secret"),
                                              tolerance)
    except stripe.SignatureVerificationError as e:
        return {"ok": False, "error": str(e)}
    return {"ok": True}


# --- self-test ---

def self_test(_req):
    from cryptography.hazmat.primitives import hashes, serialization as ser
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    def pem(key, fmt):
        return key.private_bytes(ser.Encoding.PEM, fmt, ser.NoEncryption()).decode()
    def public(key):
        return key.public_key().public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo).decode()
    merchant, platform = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2))
    pkcs8, pkcs1 = ser.PrivateFormat.PKCS8, ser.PrivateFormat.TraditionalOpenSSL
    results = []
    def check(name, ok):
        results.append(ok)
        print(f"{'ok  ' if ok else 'FAIL'} {name}")

    auth = {"mchid": "1900000001", "serial_no": "5157F09EFDC096DE15EBE81A47057A72", "method": "POST",
            "private_key_pem": pem(merchant, pkcs8), "url": "/v3/pay/transactions/native?x=1",
            "timestamp": 1700000000, "nonce": "N0NCE", "body": '{"amount":{"total":1}}'}
    a, b = wechat_authorization(auth)["authorization"], wechat_authorization(auth)["authorization"]
    signature = a.split('signature="')[1].split('"')[0]
    message = f"POST\n{auth['url']}\n1700000000\nN0NCE\n{auth['body']}\n".encode()
    try:
        merchant.public_key().verify(base64.b64decode(signature), message, padding.PKCS1v15(), hashes.SHA256())
        verified = True
    except Exception:
        verified = False
    check("wechat-authorization is deterministic, at the given time, over METHOD\\nurl\\nts\\nnonce\\nbody\\n",
          a == b and 'timestamp="1700000000"' in a and verified)

    apiv3 = "0123456789abcdef0123456789ABCDEF"
    note = wechat_notify({"platform_private_key_pem": pem(platform, pkcs8), "platform_public_key_id": "PUB_KEY_ID_01",
                          "apiv3_key": apiv3, "event_type": "TRANSACTION.SUCCESS", "original_type": "transaction",
                          "resource": {"out_trade_no": "T1", "trade_state": "SUCCESS", "amount": {"total": 1}},
                          "id": "EV-1", "create_time": "2024-01-01T00:00:00+08:00", "summary": "支付成功"})
    cb = {"headers": note["headers"], "body": note["body"], "mchid": "1900000001", "appid": "wx0000000000000001",
          "apiv3_key": apiv3, "merchant_private_key_pem": pem(merchant, pkcs8), "merchant_serial_no": "5157",
          "platform_public_key_pem": public(platform), "platform_public_key_id": "PUB_KEY_ID_01"}
    got = wechat_callback(cb)
    check("wechat-notify accepted by wechat-callback", got.get("ok") and got["resource"]["out_trade_no"] == "T1")
    check("wechat-callback refuses one changed body byte",
          not wechat_callback({**cb, "body": note["body"].replace("EV-1", "EV-2")})["ok"])
    check("wechat-callback refuses a wrong APIv3 key", not wechat_callback({**cb, "apiv3_key": apiv3[::-1]})["ok"])
    check("wechat-callback refuses an unknown serial, offline",
          not wechat_callback({**cb, "headers": {**note["headers"], "Wechatpay-Serial": "ABCDEF"}})["ok"])
    upper = {k.upper(): v for k, v in note["headers"].items()}
    check("wechat-callback takes header names in any case", wechat_callback({**cb, "headers": upper})["ok"])

    params = {"app_id": "2021000000000001", "out_trade_no": "T1", "total_amount": "0.01", "sign_type": "RSA2",
              "trade_status": "TRADE_SUCCESS", "subject": "拣货费"}
    signed = alipay_sign({"params": params, "private_key_pem": pem(platform, pkcs1), "notification": True})
    back = {"params": {**params, "sign": signed["sign"]}, "public_key_pem": public(platform), "notification": True}
    check("alipay-sign (notification) leaves out sign_type", "sign_type" not in signed["sign_content"])
    check("alipay-sign accepted by alipay-verify", alipay_verify(back)["ok"])
    check("alipay-verify refuses a changed amount",
          not alipay_verify({**back, "params": {**back["params"], "total_amount": "100.00"}})["ok"])
    req = alipay_sign({"params": params, "private_key_pem": pem(platform, pkcs1), "notification": False})
    check("alipay-sign (request) keeps sign_type, verified as a request",
          "sign_type=RSA2" in req["sign_content"] and alipay_verify(
              {**back, "params": {**params, "sign": req["sign"]}, "notification": False})["ok"])
    content = '{"code":"10000","msg":"Success","out_trade_no":"T1"}'
    sign = sdk("alipay.aop.api.util.SignatureUtils").sign_with_rsa2(pem(platform, pkcs1), content, "utf-8")
    check("alipay-verify-content accepts a signed answer and refuses a changed one",
          alipay_verify_content({"content": content, "sign": sign, "public_key_pem": public(platform)})["ok"]
          and not alipay_verify_content({"content": content + " ", "sign": sign,
                                         "public_key_pem": public(platform)})["ok"])
    whole = '{"alipay_trade_query_response":%s,"sign":"%s"}' % (content, sign)
    check("alipay-verify-content cuts a whole gateway answer as the SDK does",
          alipay_verify_content({"response": whole, "public_key_pem": public(platform)})["ok"])

    now, secret, payload = int(time.time()), "whsec_test", '{"id":"evt_1","object":"event"}'
    header = stripe_sign({"payload": payload, "secret": secret, "timestamp": now})["header"]
    check("stripe-sign accepted by stripe-verify",
          stripe_verify({"payload": payload, "header": header, "secret": secret, "tolerance": 300})["ok"])
    check("stripe-verify refuses a changed payload",
          not stripe_verify({"payload": payload + " ", "header": header, "secret": secret})["ok"])
    stale = stripe_sign({"payload": payload, "secret": secret, "timestamp": now - 600})["header"]
    check("stripe-verify refuses a stale timestamp",
          not stripe_verify({"payload": payload, "header": stale, "secret": secret, "tolerance": 300})["ok"])
    print(f"self-test: {sum(results)} passed, {len(results) - sum(results)} failed")
    sys.exit(0 if all(results) else 1)


COMMANDS = {"wechat-authorization": wechat_authorization, "wechat-callback": wechat_callback,
            "wechat-notify": wechat_notify, "alipay-sign": alipay_sign, "alipay-verify": alipay_verify,
            "alipay-verify-content": alipay_verify_content, "stripe-sign": stripe_sign,
            "stripe-verify": stripe_verify, "self-test": self_test}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in COMMANDS:
        die(f"usage: payment_peers.py {{{'|'.join(COMMANDS)}}} < request.json")
    command = sys.argv[1]
    try:
        req = {} if command == "self-test" else json.loads(sys.stdin.read())
        if not isinstance(req, dict):
            raise Malformed("the input must be one JSON object")
        out = COMMANDS[command](req)
    except (Malformed, json.JSONDecodeError) as e:
        die(f"payment_peers.py {command}: malformed input: {e}")
    except Exception as e:  # a key that does not load, a body that cannot be signed, ...
        die(f"payment_peers.py {command}: cannot run on this input: {type(e).__name__}: {e}")
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
