//! The carriers' wire formats, pure: what central sends a carrier's open platform and a
//! tracking aggregator, what they answer, and how both sides sign — so central's client and
//! the simulator that plays the carrier read one definition (and the tests check the
//! signatures against tools nobody here wrote).
//!
//! - `sf`: SF Express's open platform (`/std/service`): a form of `partnerID`, `requestID`,
//!   `serviceCode`, `timestamp`, `msgData` (JSON) and `msgDigest` =
//!   base64(md5(urlencode(msgData + timestamp + checkword))), urlencode being Java's
//!   `URLEncoder` in UTF-8. Every carrier in the simulator speaks it; a carrier with another
//!   API gets its own adapter in central behind the same calls.
//! - `kuaidi100`: the tracking aggregator's subscription (`/poll`) and the signature of its
//!   pushes (upper-case hex MD5(param + salt)).

use base64::Engine;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

/// Java's `URLEncoder.encode(s, "UTF-8")`: letters, digits and `.-*_` stay, a space becomes
/// `+`, every other byte `%XX` (upper case).
pub fn url_encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

pub mod sf {
    use super::*;

    /// Places an order; with `waybillNoInfoList`, for a waybill number we already hold.
    pub const CREATE_ORDER: &str = "EXP_RECE_CREATE_ORDER";
    /// The result of an order placed before (after `DUPLICATE_ORDER`, or a lost answer).
    pub const SEARCH_ORDER: &str = "EXP_RECE_SEARCH_ORDER_RESP";
    /// Changes or (dealType 2) cancels an order.
    pub const UPDATE_ORDER: &str = "EXP_RECE_UPDATE_ORDER";
    /// A segment of waybill numbers issued to the partner for printing while offline (the
    /// numbers are registered later with `CREATE_ORDER`).
    pub const APPLY_WAYBILLS: &str = "EXP_RECE_APPLY_WAYBILL_NO";
    /// A return (退货下单): the customer sends, the warehouse receives, the partner pays; the
    /// platform issues the waybill number. With `sendStartTm` a courier comes to collect it.
    pub const CREATE_REVERSE_ORDER: &str = "EXP_RECE_CREATE_REVERSE_ORDER";
    /// Cancels a return not yet collected (退货消单).
    pub const CANCEL_REVERSE_ORDER: &str = "EXP_RECE_CANCEL_REVERSE_ORDER";

    /// `apiResultCode` of a call the platform accepted (the business answer is inside).
    pub const API_OK: &str = "A1000";
    /// The digest did not match.
    pub const API_BAD_DIGEST: &str = "A1006";
    /// A required form field is missing or malformed.
    pub const API_BAD_REQUEST: &str = "A1001";
    /// The platform is overloaded or down for a moment: try again.
    pub const API_BUSY: &str = "A1099";
    /// Business `errorCode` of success.
    pub const OK: &str = "S0000";
    /// The orderId was placed before (the search answers with what it got).
    pub const DUPLICATE_ORDER: &str = "8016";
    /// The waybill number was not issued to this partner, or another order holds it.
    pub const WAYBILL_REFUSED: &str = "8196";
    /// No order with that orderId.
    pub const NO_ORDER: &str = "8018";
    /// The order can no longer be cancelled (picked up).
    pub const NOT_CANCELLABLE: &str = "8037";

    /// Most numbers one segment request may ask for.
    pub const MAX_SEGMENT: u32 = 1_000;

    /// `msgDigest` of a request.
    pub fn digest(msg_data: &str, timestamp: &str, checkword: &str) -> String {
        let encoded = url_encode(&format!("{msg_data}{timestamp}{checkword}"));
        base64::engine::general_purpose::STANDARD.encode(Md5::digest(encoded.as_bytes()))
    }

    /// The form every call posts (`application/x-www-form-urlencoded`).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Form {
        #[serde(rename = "partnerID")]
        pub partner_id: String,
        #[serde(rename = "requestID")]
        pub request_id: String,
        #[serde(rename = "serviceCode")]
        pub service_code: String,
        /// Unix milliseconds, as text.
        pub timestamp: String,
        #[serde(rename = "msgDigest")]
        pub msg_digest: String,
        #[serde(rename = "msgData")]
        pub msg_data: String,
    }

    impl Form {
        /// A signed form for `service` carrying `msg` as JSON.
        pub fn signed<T: Serialize>(partner_id: &str, checkword: &str, service: &str, request_id: &str, now_ms: i64, msg: &T) -> Form {
            let msg_data = serde_json::to_string(msg).unwrap_or_default();
            let timestamp = now_ms.to_string();
            Form {
                partner_id: partner_id.to_owned(),
                request_id: request_id.to_owned(),
                service_code: service.to_owned(),
                msg_digest: digest(&msg_data, &timestamp, checkword),
                timestamp,
                msg_data,
            }
        }

        /// Whether the digest is the one `checkword` makes (compared in constant time).
        pub fn verify(&self, checkword: &str) -> bool {
            crate::secret::same_secret(&digest(&self.msg_data, &self.timestamp, checkword), &self.msg_digest)
        }
    }

    /// The platform's envelope; `apiResultData` is itself JSON text (a `Result`).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Envelope {
        pub api_result_code: String,
        #[serde(default)]
        pub api_error_msg: String,
        #[serde(default, rename = "apiResponseID")]
        pub api_response_id: String,
        #[serde(default)]
        pub api_result_data: Option<String>,
    }

    /// The business answer inside the envelope.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Answer<T> {
        pub success: bool,
        #[serde(default)]
        pub error_code: String,
        #[serde(default)]
        pub error_msg: Option<String>,
        #[serde(default = "none")]
        pub msg_data: Option<T>,
    }

    fn none<T>() -> Option<T> {
        None
    }

    /// `expressTypeId` of our services: 顺丰特快 (express), 顺丰标快 (standard), 顺丰次晨
    /// (next day).
    pub fn express_type(service: &str) -> Option<u32> {
        Some(match service {
            "express" => 1,
            "standard" => 2,
            "next_day" => 5,
            _ => return None,
        })
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ApplyWaybills {
        pub count: u32,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct WaybillSegment {
        pub waybill_nos: Vec<String>,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Contact {
        /// 1 sender, 2 recipient.
        pub contact_type: u8,
        pub contact: String,
        #[serde(default)]
        pub province: String,
        pub city: String,
        pub address: String,
        #[serde(default)]
        pub post_code: String,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Cargo {
        pub name: String,
        pub count: u32,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct WaybillNo {
        /// 1: the parcel's main waybill.
        pub waybill_type: u8,
        pub waybill_no: String,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct CreateOrder {
        /// Ours, unique per parcel: the platform refuses it twice (`DUPLICATE_ORDER`).
        pub order_id: String,
        pub express_type_id: u32,
        /// 1: the sender pays (monthly account).
        pub pay_method: u8,
        #[serde(default)]
        pub monthly_card: String,
        /// Kilograms.
        pub total_weight: f64,
        pub cargo_details: Vec<Cargo>,
        pub contact_info_list: Vec<Contact>,
        #[serde(default)]
        pub waybill_no_info_list: Vec<WaybillNo>,
        /// 1: answer with the routing label.
        pub is_return_routelabel: u8,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct RouteLabelData {
        pub waybill_no: String,
        /// The destination's routing code (city code and delivery team), printed large.
        pub dest_route_label: String,
        /// The sorting centre's chute.
        #[serde(default)]
        pub coding_mapping: String,
        #[serde(default)]
        pub two_dimension_code: String,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct RouteLabelInfo {
        pub code: String,
        pub route_label_data: RouteLabelData,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct OrderResult {
        pub order_id: String,
        pub waybill_no_info_list: Vec<WaybillNo>,
        #[serde(default)]
        pub route_label_info: Vec<RouteLabelInfo>,
    }

    /// A return order: the customer (contactType 1) sends to the warehouse (contactType 2).
    /// The platform answers with an `OrderResult` carrying the number it issued.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct CreateReverseOrder {
        /// Ours, unique per return: placed twice it is refused (`DUPLICATE_ORDER`).
        pub order_id: String,
        pub express_type_id: u32,
        /// 1: the partner pays (monthly account), not the customer.
        pub pay_method: u8,
        #[serde(default)]
        pub monthly_card: String,
        pub cargo_details: Vec<Cargo>,
        pub contact_info_list: Vec<Contact>,
        /// `YYYY-MM-DD HH:MM:SS` (China time): a courier collects from then on. Absent, the
        /// customer hands the parcel in with the label.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub send_start_tm: Option<String>,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct CancelReverseOrder {
        pub order_id: String,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct SearchOrder {
        pub order_id: String,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct UpdateOrder {
        pub order_id: String,
        /// 2: cancel.
        pub deal_type: u8,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct UpdateResult {
        pub order_id: String,
        /// 2: cancelled.
        pub res_status: u8,
    }
}

pub mod kuaidi100 {
    use super::*;

    /// Kuaidi100's code for a carrier it knows by our code.
    pub fn known_company(carrier: &str) -> Option<&'static str> {
        Some(match carrier.to_ascii_uppercase().as_str() {
            "SF" => "shunfeng",
            "JD" => "jd",
            "ZTO" => "zhongtong",
            "YTO" => "yuantong",
            "STO" => "shentong",
            "YD" => "yunda",
            "EMS" => "ems",
            _ => return None,
        })
    }

    /// Kuaidi100's code for a carrier of ours (its `com`); our code in lower case for one not
    /// in the table.
    pub fn company(carrier: &str) -> String {
        known_company(carrier).map_or_else(|| carrier.to_ascii_lowercase(), str::to_owned)
    }

    /// `sign` of a push: upper-case hex MD5 of param followed by the salt.
    pub fn sign(param: &str, salt: &str) -> String {
        let digest = Md5::new().chain_update(param.as_bytes()).chain_update(salt.as_bytes()).finalize();
        digest.iter().map(|b| format!("{b:02X}")).collect()
    }

    /// `param` of a subscription (posted as a form with `schema=json`).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Subscribe {
        pub company: String,
        pub number: String,
        pub key: String,
        pub parameters: SubscribeParameters,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct SubscribeParameters {
        pub callbackurl: String,
        pub salt: String,
        /// "1": pushes carry each event's status words and area.
        #[serde(default)]
        pub resultv2: String,
    }

    /// The answer to a subscription, and what a push receiver answers.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Reply {
        pub result: bool,
        pub return_code: String,
        #[serde(default)]
        pub message: String,
    }

    /// Subscribed; "501" is a repeated subscription, which is as good.
    pub const SUBSCRIBED: &str = "200";
    pub const ALREADY_SUBSCRIBED: &str = "501";
    /// A push's `param`: the parcel's whole history, newest first.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct PushParam {
        pub status: String,
        #[serde(default)]
        pub message: String,
        pub last_result: LastResult,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct LastResult {
        #[serde(default)]
        pub message: String,
        /// Kuaidi100's overall state code ("0" in transit, "1" picked up, "3" delivered, "5"
        /// out for delivery, …).
        #[serde(default)]
        pub state: String,
        #[serde(default)]
        pub ischeck: String,
        pub com: String,
        pub nu: String,
        #[serde(default)]
        pub data: Vec<Datum>,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Datum {
        pub context: String,
        /// `YYYY-MM-DD HH:MM:SS`, China Standard Time.
        #[serde(default)]
        pub time: String,
        #[serde(default)]
        pub ftime: String,
        /// The event's status word (揽收, 在途, 派件, 签收, …).
        #[serde(default)]
        pub status: String,
        #[serde(default, rename = "areaName", skip_serializing_if = "Option::is_none")]
        pub area_name: Option<String>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding_is_javas() {
        assert_eq!(url_encode("a b*c.d-e_f~g/+"), "a+b*c.d-e_f%7Eg%2F%2B");
        assert_eq!(url_encode("顺"), "%E9%A1%BA");
    }

    #[test]
    fn a_signed_form_verifies_with_its_checkword_only() {
        let form = sf::Form::signed("TOTE", "cw-1", sf::APPLY_WAYBILLS, "r1", 1_700_000_000_000, &sf::ApplyWaybills { count: 5 });
        assert_eq!(form.msg_data, r#"{"count":5}"#);
        assert!(form.verify("cw-1"));
        assert!(!form.verify("cw-2"));
        let tampered = sf::Form { msg_data: r#"{"count":6}"#.into(), ..form };
        assert!(!tampered.verify("cw-1"));
    }

    #[test]
    fn kuaidi100_sign_is_upper_case_md5() {
        // RFC 1321's test suite: MD5("abc").
        assert_eq!(kuaidi100::sign("ab", "c"), "900150983CD24FB0D6963F7D28E17F72");
        assert_eq!(kuaidi100::company("SF"), "shunfeng");
    }
}
