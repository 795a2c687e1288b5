//! Each payment channel's daily bill (对账单), in the channel's own file format.
//!
//! What it is: one line type, [`BillLine`], and per channel a writer and a parser:
//! - WeChat Pay's v3 trade bill of type `ALL` ([`write_wechat`], [`parse_wechat`]): UTF-8 CSV, a
//!   Chinese header, every value prefixed with a backtick, amounts in yuan, then a summary header
//!   and one summary row that the parser checks against the lines.
//! - Alipay's business detail bill, 业务明细 ([`write_alipay`], [`parse_alipay`]): a GBK CSV inside
//!   a zip archive, with `#` comment lines around the rows and `#` total lines that the parser
//!   checks against the lines.
//! - A card gateway's balance transactions export in the style of Stripe ([`write_card`],
//!   [`parse_card`]): UTF-8 CSV (RFC 4180 quoting), amounts in minor units, Unix seconds.
//!
//! The simulator plays the channels and writes their bills with these functions; central parses
//! the bills it downloads and hands the lines to `reconcile`.
//!
//! What it is not: it downloads nothing, reads no file and has no clock; bytes come in and
//! values go out. Money is read exactly into integer minor units (fen, cents), never through a
//! float. Every parser has limits ([`MAX_BILL_BYTES`], [`MAX_BILL_ROWS`], [`MAX_FIELD_BYTES`],
//! [`MAX_FIELDS`], [`MAX_ARCHIVE_ENTRIES`]) so that a broken or hostile file costs bounded memory.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::io::{Read, Write as _};

use serde::{Deserialize, Serialize};

use super::ChannelKind;
use crate::domain::Money;

/// The largest bill a parser reads, after unzipping: one gibibyte, about three million WeChat
/// lines. A zip archive that inflates beyond it is refused without inflating the rest.
pub const MAX_BILL_BYTES: usize = 1 << 30;
/// The most detail rows a bill may hold.
pub const MAX_BILL_ROWS: usize = 5_000_000;
/// The longest single field: product names are the longest real values (127 characters).
pub const MAX_FIELD_BYTES: usize = 1024;
/// The most fields on one row (WeChat's 27 and Alipay's 25 columns, with room to grow).
pub const MAX_FIELDS: usize = 64;
/// The longest identifier (order payment number, channel trade number, refund number).
pub const MAX_ID_BYTES: usize = 64;
/// The most files an Alipay archive may hold (it ships two: the detail and its summary).
pub const MAX_ARCHIVE_ENTRIES: usize = 16;

/// WeChat Pay and Alipay write times in Beijing time, which has no daylight saving.
const BEIJING_OFFSET_MS: i64 = 8 * 3_600_000;

/// The time zone a channel's bill days are in: Beijing time for WeChat Pay and Alipay, UTC for
/// the card gateway.
pub fn day_offset_ms(channel: ChannelKind) -> i64 {
    match channel {
        ChannelKind::Wechat | ChannelKind::Alipay => BEIJING_OFFSET_MS,
        ChannelKind::Card => 0,
    }
}
const DAY_MS: i64 = 86_400_000;

/// Placeholders for the fields a bill carries that a `BillLine` does not: Tote reads none of them.
const WECHAT_APP_ID: &str = "wx0000000000000000";
const WECHAT_MERCHANT_ID: &str = "1900000000";
const ALIPAY_ACCOUNT: &str = "20880000000000000000";
const PRODUCT_NAME: &str = "Tote 订单";

/// Whether a bill line is money coming in or going back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BillKind {
    Payment,
    Refund,
}

impl BillKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BillKind::Payment => "payment",
            BillKind::Refund => "refund",
        }
    }

    pub fn parse(raw: &str) -> Option<BillKind> {
        [BillKind::Payment, BillKind::Refund].into_iter().find(|k| k.as_str() == raw)
    }
}

/// Where the channel says a payment or refund stood when it cut the bill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BillStatus {
    /// The customer paid, or the refund reached the customer.
    Success,
    /// A refund the channel accepted but has not finished (WeChat `PROCESSING`).
    Processing,
    /// Closed without money moving (WeChat `CLOSED`, a refund's `REFUNDCLOSE`).
    Closed,
    /// A payment the channel reversed after it was paid (WeChat `REVOKED`).
    Revoked,
    /// A refund that failed and needs a manual transfer (WeChat `CHANGE`).
    Failed,
}

impl BillStatus {
    pub const ALL: [BillStatus; 5] =
        [BillStatus::Success, BillStatus::Processing, BillStatus::Closed, BillStatus::Revoked, BillStatus::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            BillStatus::Success => "success",
            BillStatus::Processing => "processing",
            BillStatus::Closed => "closed",
            BillStatus::Revoked => "revoked",
            BillStatus::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<BillStatus> {
        BillStatus::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// One payment or refund as a channel's bill lists it, whatever the channel.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BillLine {
    pub channel: ChannelKind,
    pub kind: BillKind,
    /// Our order payment number, as we sent it to the channel (WeChat and Alipay `out_trade_no`,
    /// the card gateway's order id metadata).
    pub out_trade_no: String,
    /// The channel's number for the payment; on a refund line, the payment's number.
    pub channel_trade_no: String,
    /// Our refund number (`out_refund_no`, Alipay's `out_request_no`): set on refunds only.
    pub out_refund_no: Option<String>,
    /// What the customer paid, or what we asked to refund: always above zero.
    pub amount_minor: i64,
    /// What the channel charged for this line; negative when a refund gives a fee back.
    pub fee_minor: i64,
    pub status: BillStatus,
    /// When the channel recorded it, to the second (the bills carry no milliseconds).
    pub at_ms: i64,
}

/// Totals of a set of lines, as the channels' summary rows state them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BillSummary {
    pub count: u64,
    /// Sum of the payments' amounts, whatever their status.
    pub total_amount_minor: i64,
    /// Sum of the refunds' amounts, whatever their status.
    pub total_refund_minor: i64,
    pub total_fee_minor: i64,
}

impl BillSummary {
    pub fn of(lines: &[BillLine]) -> Result<BillSummary, BillError> {
        let mut summary = BillSummary::default();
        for line in lines {
            summary.count += 1;
            let total = match line.kind {
                BillKind::Payment => &mut summary.total_amount_minor,
                BillKind::Refund => &mut summary.total_refund_minor,
            };
            *total = total.checked_add(line.amount_minor).ok_or(BillError::Overflow)?;
            summary.total_fee_minor = summary.total_fee_minor.checked_add(line.fee_minor).ok_or(BillError::Overflow)?;
        }
        Ok(summary)
    }
}

/// The calendar day a bill covers. WeChat Pay and Alipay cut their day at midnight Beijing
/// time, the card gateway at midnight UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BillDay {
    year: u16,
    month: u8,
    day: u8,
}

impl BillDay {
    /// A day between 1970-01-01 and 9999-12-31.
    pub fn new(year: u16, month: u8, day: u8) -> Option<BillDay> {
        let valid = (1970..=9999).contains(&year)
            && (1..=12).contains(&month)
            && day >= 1
            && i64::from(day) <= days_in_month(i64::from(year), i64::from(month));
        valid.then_some(BillDay { year, month, day })
    }

    /// Reads `YYYY-MM-DD`.
    pub fn parse(raw: &str) -> Option<BillDay> {
        let b = raw.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let year = digits(&b[0..4])?;
        let month = digits(&b[5..7])?;
        let day = digits(&b[8..10])?;
        BillDay::new(u16::try_from(year).ok()?, u8::try_from(month).ok()?, u8::try_from(day).ok()?)
    }

    pub fn year(self) -> u16 {
        self.year
    }

    pub fn month(self) -> u8 {
        self.month
    }

    pub fn day(self) -> u8 {
        self.day
    }

    /// The first millisecond of the day in a zone `offset_ms` east of UTC.
    /// The day's first millisecond (Unix) in a time zone `offset_ms` east of UTC.
    pub fn start_ms(self, offset_ms: i64) -> i64 {
        days_from_civil(i64::from(self.year), i64::from(self.month), i64::from(self.day)) * DAY_MS - offset_ms
    }

    fn compact(self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }
}

impl fmt::Display for BillDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Why a bill could not be read or written. Lines are counted from 1, as an editor shows them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BillError {
    #[error("the bill is {len} bytes; the limit is {max}")]
    TooLarge { len: u64, max: u64 },
    #[error("the bill has more than {max} detail rows")]
    TooManyRows { max: usize },
    #[error("line {line}: the bill is not valid {expected}")]
    Encoding { line: usize, expected: &'static str },
    #[error("the bill is {found}; this channel's bills are {expected}")]
    WrongEncoding { expected: &'static str, found: &'static str },
    #[error("the archive cannot be read: {reason}")]
    Archive { reason: String },
    #[error("the bill has no header row")]
    NoHeader,
    #[error("line {line}: the header has no {column:?} column")]
    MissingColumn { line: usize, column: &'static str },
    #[error("line {line}: {found} fields where the header has {expected}")]
    FieldCount { line: usize, expected: usize, found: usize },
    #[error("line {line}: more than {max} fields")]
    TooManyFields { line: usize, max: usize },
    #[error("line {line}: field {position} is longer than {max} bytes")]
    FieldTooLong { line: usize, position: usize, max: usize },
    #[error("line {line}: a quoted field is not closed, or text follows its closing quote")]
    Quoting { line: usize },
    #[error("line {line}, column {column}: {reason}")]
    Field { line: usize, column: &'static str, reason: String },
    #[error("line {line}: {reason}")]
    Row { line: usize, reason: String },
    #[error("the bill ends without its {what}")]
    MissingSummary { what: &'static str },
    #[error("line {line}: the bill states {what} as {stated}, but its rows add up to {computed}")]
    SummaryMismatch { line: usize, what: &'static str, stated: i64, computed: i64 },
    #[error("the bill's totals overflow")]
    Overflow,
    #[error("line {index} of the input cannot be written: {reason}")]
    Unwritable { index: usize, reason: String },
}

// ---------------------------------------------------------------------------------------------
// WeChat Pay: v3 trade bill, type ALL.

const WECHAT_HEADER: [&str; 27] = [
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
    "订单金额",
    "申请退款金额",
    "费率备注",
];

const WECHAT_SUMMARY_HEADER: [&str; 7] =
    ["总交易单数", "应结订单总金额", "退款总金额", "充值券退款总金额", "手续费总金额", "订单总金额", "申请退款总金额"];

/// Writes a WeChat Pay trade bill (`ALL`) for `day`: the header, one row per line, the summary
/// header and the summary row, CRLF line ends. A payment's amount goes to 订单金额 and
/// 应结订单金额 (no vouchers), a refund's to 申请退款金额 and 退款金额.
pub fn write_wechat(lines: &[BillLine], day: BillDay) -> Result<Vec<u8>, BillError> {
    let day_start_ms = day.start_ms(BEIJING_OFFSET_MS);
    let mut out = String::with_capacity(lines.len().saturating_mul(320).min(MAX_BILL_BYTES).saturating_add(1024));
    out.push_str(&WECHAT_HEADER.join(","));
    out.push_str("\r\n");
    for (index, line) in lines.iter().enumerate() {
        check_line(index, line, ChannelKind::Wechat, day_start_ms, BEIJING_OFFSET_MS)?;
        let (trade_state, refund_status) = match (line.kind, line.status) {
            (BillKind::Payment, BillStatus::Success) => ("SUCCESS", ""),
            (BillKind::Payment, BillStatus::Revoked) => ("REVOKED", ""),
            (BillKind::Payment, BillStatus::Closed) => ("CLOSED", ""),
            (BillKind::Refund, BillStatus::Success) => ("REFUND", "SUCCESS"),
            (BillKind::Refund, BillStatus::Processing) => ("REFUND", "PROCESSING"),
            (BillKind::Refund, BillStatus::Closed) => ("REFUND", "REFUNDCLOSE"),
            (BillKind::Refund, BillStatus::Failed) => ("REFUND", "CHANGE"),
            (kind, status) => return Err(unrepresentable(index, "a WeChat Pay", kind, status)),
        };
        let (paid_minor, refund_minor, refund_type) = match line.kind {
            BillKind::Payment => (line.amount_minor, 0, ""),
            BillKind::Refund => (0, line.amount_minor, "ORIGINAL"),
        };
        let refund_no = line.out_refund_no.as_deref().unwrap_or("0");
        out.push('`');
        push_local_time(&mut out, line.at_ms, BEIJING_OFFSET_MS);
        push(
            &mut out,
            format_args!(
                ",`{WECHAT_APP_ID},`{WECHAT_MERCHANT_ID},`0,`,`{},`{},`,`JSAPI,`{trade_state},`OTHERS,`CNY,`{},`0.00,`0,`{refund_no},`{},`0.00,`{refund_type},`{refund_status},`{PRODUCT_NAME},`,`{},`0.60%,`{},`{},`\r\n",
                line.channel_trade_no,
                line.out_trade_no,
                Yuan(paid_minor),
                Yuan(refund_minor),
                Yuan(line.fee_minor),
                Yuan(paid_minor),
                Yuan(refund_minor),
            ),
        );
    }
    let summary = BillSummary::of(lines)?;
    out.push_str(&WECHAT_SUMMARY_HEADER.join(","));
    out.push_str("\r\n");
    push(
        &mut out,
        format_args!(
            "`{},`{},`{},`0.00,`{},`{},`{}\r\n",
            summary.count,
            Yuan(summary.total_amount_minor),
            Yuan(summary.total_refund_minor),
            Yuan(summary.total_fee_minor),
            Yuan(summary.total_amount_minor),
            Yuan(summary.total_refund_minor),
        ),
    );
    check_size(out.len())?;
    Ok(out.into_bytes())
}

/// Reads a WeChat Pay trade bill (`ALL`, `SUCCESS` or `REFUND` type). Columns are found by
/// their header name, since WeChat does not promise their order; a leading byte order mark,
/// CRLF line ends and blank lines are accepted. A payment's amount is its 订单金额, a refund's its
/// 申请退款金额. The summary row must agree with the rows: count, and the sum of each money
/// column as written (应结订单金额, 退款金额, 充值券退款金额, 手续费, 订单金额, 申请退款金额).
pub fn parse_wechat(bytes: &[u8]) -> Result<Vec<BillLine>, BillError> {
    check_size(bytes.len())?;
    let text = utf8(bytes)?;
    let mut records = Records::new(text, false).filter(|(_, record)| !record.trim().is_empty());
    let mut fields = Vec::with_capacity(WECHAT_HEADER.len());
    let (header_line, header) = records.next().ok_or(BillError::NoHeader)?;
    split_fields(header, header_line, Dialect::Wechat, &mut fields)?;
    let columns = WechatColumns::find(&fields, header_line)?;
    let width = fields.len();
    let mut lines = Vec::new();
    let mut totals = WechatTotals::default();
    while let Some((line, record)) = records.next() {
        split_fields(record, line, Dialect::Wechat, &mut fields)?;
        if field(&fields, 0) == WECHAT_SUMMARY_HEADER[0] {
            let summary = WechatSummaryColumns::find(&fields, line)?;
            let summary_width = fields.len();
            let (summary_line, record) = records.next().ok_or(BillError::MissingSummary { what: "summary row" })?;
            split_fields(record, summary_line, Dialect::Wechat, &mut fields)?;
            check_width(&fields, summary_width, summary_line)?;
            totals.check(&summary, &fields, summary_line)?;
            if let Some((extra_line, _)) = records.next() {
                return Err(BillError::Row { line: extra_line, reason: "text after the summary row".into() });
            }
            return Ok(lines);
        }
        check_width(&fields, width, line)?;
        if lines.len() >= MAX_BILL_ROWS {
            return Err(BillError::TooManyRows { max: MAX_BILL_ROWS });
        }
        lines.push(columns.line(&fields, line, &mut totals)?);
    }
    Err(BillError::MissingSummary { what: "summary rows (总交易单数 …)" })
}

struct WechatColumns {
    time: usize,
    channel_trade_no: usize,
    out_trade_no: usize,
    trade_state: usize,
    currency: usize,
    settlement: usize,
    out_refund_no: usize,
    refund: usize,
    voucher_refund: usize,
    refund_status: usize,
    fee: usize,
    total: usize,
    requested_refund: usize,
}

/// Column sums, for the check against the summary row.
#[derive(Default)]
struct WechatTotals {
    rows: i64,
    settlement: i64,
    refund: i64,
    voucher_refund: i64,
    fee: i64,
    total: i64,
    requested_refund: i64,
}

struct WechatSummaryColumns {
    rows: usize,
    settlement: usize,
    refund: usize,
    voucher_refund: usize,
    fee: usize,
    total: usize,
    requested_refund: usize,
}

impl WechatColumns {
    fn find(header: &[Cow<'_, str>], line: usize) -> Result<WechatColumns, BillError> {
        let col = |name| find_column(header, name, line);
        Ok(WechatColumns {
            time: col("交易时间")?,
            channel_trade_no: col("微信订单号")?,
            out_trade_no: col("商户订单号")?,
            trade_state: col("交易状态")?,
            currency: col("货币种类")?,
            settlement: col("应结订单金额")?,
            out_refund_no: col("商户退款单号")?,
            refund: col("退款金额")?,
            voucher_refund: col("充值券退款金额")?,
            refund_status: col("退款状态")?,
            fee: col("手续费")?,
            total: col("订单金额")?,
            requested_refund: col("申请退款金额")?,
        })
    }

    fn line(&self, fields: &[Cow<'_, str>], line: usize, totals: &mut WechatTotals) -> Result<BillLine, BillError> {
        let cell = Cell { fields, line };
        let settlement = cell.yuan(self.settlement, "应结订单金额", Sign::NonNegative)?;
        let refund = cell.yuan(self.refund, "退款金额", Sign::NonNegative)?;
        let voucher_refund = cell.yuan(self.voucher_refund, "充值券退款金额", Sign::NonNegative)?;
        let fee_minor = cell.yuan(self.fee, "手续费", Sign::Any)?;
        let total = cell.yuan(self.total, "订单金额", Sign::NonNegative)?;
        let requested_refund = cell.yuan(self.requested_refund, "申请退款金额", Sign::NonNegative)?;
        totals.add(&[settlement, refund, voucher_refund, fee_minor, total, requested_refund])?;
        let currency = field(fields, self.currency);
        if currency != "CNY" {
            return Err(cell.bad("货币种类", format!("{:?} is not CNY", shorten(currency))));
        }
        let (kind, status) = match field(fields, self.trade_state) {
            "SUCCESS" => (BillKind::Payment, BillStatus::Success),
            "REVOKED" => (BillKind::Payment, BillStatus::Revoked),
            "CLOSED" => (BillKind::Payment, BillStatus::Closed),
            "REFUND" => {
                let status = match field(fields, self.refund_status) {
                    "SUCCESS" => BillStatus::Success,
                    "PROCESSING" => BillStatus::Processing,
                    "REFUNDCLOSE" => BillStatus::Closed,
                    "CHANGE" => BillStatus::Failed,
                    other => {
                        let reason = format!("{:?} is not SUCCESS, PROCESSING, REFUNDCLOSE or CHANGE", shorten(other));
                        return Err(cell.bad("退款状态", reason));
                    }
                };
                (BillKind::Refund, status)
            }
            other => {
                let reason = format!("{:?} is not SUCCESS, REVOKED, CLOSED or REFUND", shorten(other));
                return Err(cell.bad("交易状态", reason));
            }
        };
        let (amount_minor, out_refund_no) = match kind {
            BillKind::Payment => (cell.above_zero(total, "订单金额")?, None),
            BillKind::Refund => {
                (cell.above_zero(requested_refund, "申请退款金额")?, Some(cell.id(self.out_refund_no, "商户退款单号")?))
            }
        };
        Ok(BillLine {
            channel: ChannelKind::Wechat,
            kind,
            out_trade_no: cell.id(self.out_trade_no, "商户订单号")?,
            channel_trade_no: cell.id(self.channel_trade_no, "微信订单号")?,
            out_refund_no,
            amount_minor,
            fee_minor,
            status,
            at_ms: cell.local_time(self.time, "交易时间", BEIJING_OFFSET_MS)?,
        })
    }
}

impl WechatTotals {
    fn add(&mut self, amounts: &[i64; 6]) -> Result<(), BillError> {
        self.rows += 1;
        let sums = [
            &mut self.settlement,
            &mut self.refund,
            &mut self.voucher_refund,
            &mut self.fee,
            &mut self.total,
            &mut self.requested_refund,
        ];
        for (sum, amount) in sums.into_iter().zip(amounts) {
            *sum = sum.checked_add(*amount).ok_or(BillError::Overflow)?;
        }
        Ok(())
    }

    fn check(&self, columns: &WechatSummaryColumns, fields: &[Cow<'_, str>], line: usize) -> Result<(), BillError> {
        let cell = Cell { fields, line };
        let stated_rows = parse_decimal(field(fields, columns.rows), 0, Sign::NonNegative)
            .map_err(|reason| cell.bad(WECHAT_SUMMARY_HEADER[0], reason))?;
        let mut checks = vec![(WECHAT_SUMMARY_HEADER[0], stated_rows, self.rows)];
        let money = [
            (columns.settlement, self.settlement),
            (columns.refund, self.refund),
            (columns.voucher_refund, self.voucher_refund),
            (columns.fee, self.fee),
            (columns.total, self.total),
            (columns.requested_refund, self.requested_refund),
        ];
        for ((index, computed), name) in money.into_iter().zip(&WECHAT_SUMMARY_HEADER[1..]) {
            let stated = parse_decimal_up_to(field(fields, index), 2, Sign::Any, MAX_TOTAL_MINOR)
                .map_err(|reason| cell.bad(name, reason))?;
            checks.push((name, stated, computed));
        }
        for (what, stated, computed) in checks {
            if stated != computed {
                return Err(BillError::SummaryMismatch { line, what, stated, computed });
            }
        }
        Ok(())
    }
}

impl WechatSummaryColumns {
    fn find(header: &[Cow<'_, str>], line: usize) -> Result<WechatSummaryColumns, BillError> {
        let [rows, settlement, refund, voucher_refund, fee, total, requested_refund] = WECHAT_SUMMARY_HEADER;
        let col = |name| find_column(header, name, line);
        Ok(WechatSummaryColumns {
            rows: col(rows)?,
            settlement: col(settlement)?,
            refund: col(refund)?,
            voucher_refund: col(voucher_refund)?,
            fee: col(fee)?,
            total: col(total)?,
            requested_refund: col(requested_refund)?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Alipay: 业务明细, a GBK CSV in a zip archive.

const ALIPAY_HEADER: [&str; 25] = [
    "支付宝交易号",
    "商户订单号",
    "业务类型",
    "商品名称",
    "创建时间",
    "完成时间",
    "门店编号",
    "门店名称",
    "操作员",
    "终端号",
    "对方账户",
    "订单金额（元）",
    "商家实收（元）",
    "支付宝红包（元）",
    "集分宝（元）",
    "支付宝优惠（元）",
    "商家优惠（元）",
    "券核销金额（元）",
    "券名称",
    "商家红包消费金额（元）",
    "卡消费金额（元）",
    "退款批次号/请求号",
    "服务费（元）",
    "分润（元）",
    "备注",
];

const ALIPAY_PAYMENT_TOTAL: &str = "交易合计：";
const ALIPAY_REFUND_TOTAL: &str = "退款合计：";

/// Writes an Alipay business detail bill for `day`: a zip archive holding one GBK CSV named
/// `<account>_<yyyymmdd>_业务明细.csv`. As in Alipay's export, money leaving the merchant is
/// negative: a refund's 订单金额 and 商家实收, and the 服务费 charged on a payment (a fee given
/// back with a refund is positive). Identifier fields carry Alipay's trailing tab.
pub fn write_alipay(lines: &[BillLine], day: BillDay) -> Result<Vec<u8>, BillError> {
    let day_start_ms = day.start_ms(BEIJING_OFFSET_MS);
    let mut out = String::with_capacity(lines.len().saturating_mul(260).min(MAX_BILL_BYTES).saturating_add(1024));
    push(&mut out, format_args!("#支付宝业务明细查询\r\n#账号：[{ALIPAY_ACCOUNT}]\r\n"));
    let (y, m, d) = (day.year(), day.month(), day.day());
    let next = civil_from_days(days_from_civil(i64::from(y), i64::from(m), i64::from(d)) + 1);
    push(
        &mut out,
        format_args!(
            "#起始日期：[{y:04}年{m:02}月{d:02}日 00:00:00]   终止日期：[{:04}年{:02}月{:02}日 00:00:00]\r\n",
            next.0, next.1, next.2
        ),
    );
    out.push_str("#-----------------------------------------业务明细列表----------------------------------------\r\n");
    out.push_str(&ALIPAY_HEADER.join(","));
    out.push_str("\r\n");
    let mut totals = AlipayTotals::default();
    for (index, line) in lines.iter().enumerate() {
        check_line(index, line, ChannelKind::Alipay, day_start_ms, BEIJING_OFFSET_MS)?;
        if line.status != BillStatus::Success {
            return Err(unrepresentable(index, "an Alipay", line.kind, line.status));
        }
        let (kind, received) = match line.kind {
            BillKind::Payment => ("交易", line.amount_minor),
            BillKind::Refund => ("退款", -line.amount_minor),
        };
        totals.add(line.kind, received)?;
        push(&mut out, format_args!("{}\t,{}\t,{kind},{PRODUCT_NAME},", line.channel_trade_no, line.out_trade_no));
        push_local_time(&mut out, line.at_ms, BEIJING_OFFSET_MS);
        out.push(',');
        push_local_time(&mut out, line.at_ms, BEIJING_OFFSET_MS);
        push(
            &mut out,
            format_args!(
                ",,,,,,{},{},0.00,0.00,0.00,0.00,0.00,,0.00,0.00,{}\t,{},0.00,\r\n",
                Yuan(received),
                Yuan(received),
                line.out_refund_no.as_deref().unwrap_or(""),
                Yuan(-line.fee_minor),
            ),
        );
    }
    out.push_str("#-----------------------------------------业务明细列表结束------------------------------------\r\n");
    push(
        &mut out,
        format_args!(
            "#{ALIPAY_PAYMENT_TOTAL}{}笔，商家实收共{}元，商家优惠共0.00元\r\n#{ALIPAY_REFUND_TOTAL}{}笔，商家实收共{}元，商家优惠共0.00元\r\n",
            totals.payments,
            Yuan(totals.payments_received),
            totals.refunds,
            Yuan(totals.refunds_received),
        ),
    );
    check_size(out.len())?;
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(&out);
    if unmappable {
        // Identifiers are ASCII and the fixed texts are GBK; nothing else reaches the file.
        return Err(BillError::Unwritable { index: 0, reason: "the bill holds a character GBK cannot encode".into() });
    }
    zip_one(&format!("{ALIPAY_ACCOUNT}_{}_业务明细.csv", day.compact()), &gbk)
}

/// Reads an Alipay business detail bill: the zip archive as downloaded. The detail file is the
/// entry named `…明细….csv` that is not the summary (`…汇总…`); names are read as UTF-8, else
/// GBK. The `#交易合计` and `#退款合计` lines must agree with the rows (count and the sum of
/// 商家实收). A payment's amount is its 订单金额, a refund's the negated 订单金额; the fee is the
/// negated 服务费; every row is a finished trade or refund, so its status is `Success`.
pub fn parse_alipay(bytes: &[u8]) -> Result<Vec<BillLine>, BillError> {
    check_size(bytes.len())?;
    let csv = unzip_detail(bytes)?;
    let text = decode_gbk(&csv)?;
    parse_alipay_csv(&text)
}

fn parse_alipay_csv(text: &str) -> Result<Vec<BillLine>, BillError> {
    let mut fields = Vec::with_capacity(ALIPAY_HEADER.len());
    let mut columns: Option<(AlipayColumns, usize)> = None;
    let mut lines = Vec::new();
    let mut totals = AlipayTotals::default();
    let mut stated_payments = None;
    let mut stated_refunds = None;
    for (line, record) in Records::new(text, false) {
        let trimmed = record.trim();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            if let Some(rest) = comment.strip_prefix(ALIPAY_PAYMENT_TOTAL) {
                stated_payments = Some((line, parse_alipay_total(rest, line)?));
            } else if let Some(rest) = comment.strip_prefix(ALIPAY_REFUND_TOTAL) {
                stated_refunds = Some((line, parse_alipay_total(rest, line)?));
            }
            continue;
        }
        split_fields(record, line, Dialect::Alipay, &mut fields)?;
        match &columns {
            None => columns = Some((AlipayColumns::find(&fields, line)?, fields.len())),
            Some((columns, width)) => {
                check_width(&fields, *width, line)?;
                if lines.len() >= MAX_BILL_ROWS {
                    return Err(BillError::TooManyRows { max: MAX_BILL_ROWS });
                }
                lines.push(columns.line(&fields, line, &mut totals)?);
            }
        }
    }
    if columns.is_none() {
        return Err(BillError::NoHeader);
    }
    let (payments_line, (payments, payments_received)) =
        stated_payments.ok_or(BillError::MissingSummary { what: "#交易合计 line" })?;
    let (refunds_line, (refunds, refunds_received)) =
        stated_refunds.ok_or(BillError::MissingSummary { what: "#退款合计 line" })?;
    let checks = [
        (payments_line, "交易笔数", payments, totals.payments),
        (payments_line, "交易商家实收", payments_received, totals.payments_received),
        (refunds_line, "退款笔数", refunds, totals.refunds),
        (refunds_line, "退款商家实收", refunds_received, totals.refunds_received),
    ];
    for (line, what, stated, computed) in checks {
        if stated != computed {
            return Err(BillError::SummaryMismatch { line, what, stated, computed });
        }
    }
    Ok(lines)
}

/// Reads `N笔，商家实收共X元，…` into (N, X in minor units).
fn parse_alipay_total(rest: &str, line: usize) -> Result<(i64, i64), BillError> {
    let malformed = || BillError::Row { line, reason: format!("{:?} is not an Alipay total line", shorten(rest)) };
    let (count, rest) = rest.split_once("笔，商家实收共").ok_or_else(malformed)?;
    let (received, _) = rest.split_once('元').ok_or_else(malformed)?;
    let count = parse_decimal(count, 0, Sign::NonNegative).map_err(|reason| BillError::Row { line, reason })?;
    let received = parse_decimal_up_to(received, 2, Sign::Any, MAX_TOTAL_MINOR)
        .map_err(|reason| BillError::Row { line, reason })?;
    Ok((count, received))
}

#[derive(Default)]
struct AlipayTotals {
    payments: i64,
    payments_received: i64,
    refunds: i64,
    refunds_received: i64,
}

impl AlipayTotals {
    fn add(&mut self, kind: BillKind, received: i64) -> Result<(), BillError> {
        let (count, sum) = match kind {
            BillKind::Payment => (&mut self.payments, &mut self.payments_received),
            BillKind::Refund => (&mut self.refunds, &mut self.refunds_received),
        };
        *count += 1;
        *sum = sum.checked_add(received).ok_or(BillError::Overflow)?;
        Ok(())
    }
}

struct AlipayColumns {
    channel_trade_no: usize,
    out_trade_no: usize,
    kind: usize,
    finished: usize,
    amount: usize,
    received: usize,
    out_refund_no: usize,
    fee: usize,
}

impl AlipayColumns {
    fn find(header: &[Cow<'_, str>], line: usize) -> Result<AlipayColumns, BillError> {
        let col = |name| find_column(header, name, line);
        Ok(AlipayColumns {
            channel_trade_no: col("支付宝交易号")?,
            out_trade_no: col("商户订单号")?,
            kind: col("业务类型")?,
            finished: col("完成时间")?,
            amount: col("订单金额（元）")?,
            received: col("商家实收（元）")?,
            out_refund_no: col("退款批次号/请求号")?,
            fee: col("服务费（元）")?,
        })
    }

    fn line(&self, fields: &[Cow<'_, str>], line: usize, totals: &mut AlipayTotals) -> Result<BillLine, BillError> {
        let cell = Cell { fields, line };
        let kind = match field(fields, self.kind) {
            "交易" => BillKind::Payment,
            "退款" => BillKind::Refund,
            other => return Err(cell.bad("业务类型", format!("{:?} is neither 交易 nor 退款", shorten(other)))),
        };
        let amount = cell.yuan(self.amount, "订单金额（元）", Sign::Any)?;
        let received = cell.yuan(self.received, "商家实收（元）", Sign::Any)?;
        let fee = cell.yuan(self.fee, "服务费（元）", Sign::Any)?;
        totals.add(kind, received)?;
        let (amount_minor, out_refund_no) = match kind {
            BillKind::Payment if amount > 0 => (amount, None),
            BillKind::Refund if amount < 0 => (-amount, Some(cell.id(self.out_refund_no, "退款批次号/请求号")?)),
            BillKind::Payment => return Err(cell.bad("订单金额（元）", "a payment's amount must be above zero".into())),
            BillKind::Refund => return Err(cell.bad("订单金额（元）", "a refund's amount must be below zero".into())),
        };
        Ok(BillLine {
            channel: ChannelKind::Alipay,
            kind,
            out_trade_no: cell.id(self.out_trade_no, "商户订单号")?,
            channel_trade_no: cell.id(self.channel_trade_no, "支付宝交易号")?,
            out_refund_no,
            amount_minor,
            fee_minor: -fee,
            status: BillStatus::Success,
            at_ms: cell.local_time(self.finished, "完成时间", BEIJING_OFFSET_MS)?,
        })
    }
}

fn zip_one(name: &str, contents: &[u8]) -> Result<Vec<u8>, BillError> {
    let archive_error = |e: zip::result::ZipError| BillError::Archive { reason: e.to_string() };
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    writer.start_file(name, options).map_err(archive_error)?;
    writer.write_all(contents).map_err(|e| BillError::Archive { reason: e.to_string() })?;
    Ok(writer.finish().map_err(archive_error)?.into_inner())
}

fn unzip_detail(bytes: &[u8]) -> Result<Vec<u8>, BillError> {
    let archive_error = |e: zip::result::ZipError| BillError::Archive { reason: e.to_string() };
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(archive_error)?;
    if archive.len() > MAX_ARCHIVE_ENTRIES {
        let reason = format!("{} files; the limit is {MAX_ARCHIVE_ENTRIES}", archive.len());
        return Err(BillError::Archive { reason });
    }
    let mut detail = None;
    for index in 0..archive.len() {
        let entry = archive.by_index_raw(index).map_err(archive_error)?;
        let name = entry_name(entry.name_raw());
        if name.ends_with(".csv") && name.contains("明细") && !name.contains("汇总") {
            if detail.is_some() {
                return Err(BillError::Archive { reason: "it holds more than one 业务明细 file".into() });
            }
            detail = Some(index);
        }
    }
    let index = detail.ok_or_else(|| BillError::Archive { reason: "it holds no 业务明细 .csv file".into() })?;
    let entry = archive.by_index(index).map_err(archive_error)?;
    let limit = MAX_BILL_BYTES as u64;
    if entry.size() > limit {
        return Err(BillError::TooLarge { len: entry.size(), max: limit });
    }
    // The stated size may lie: read one byte past the limit to notice, and no further.
    let mut csv = Vec::with_capacity(entry.size().min(64 << 20) as usize);
    entry.take(limit + 1).read_to_end(&mut csv).map_err(|e| BillError::Archive { reason: e.to_string() })?;
    check_size(csv.len())?;
    Ok(csv)
}

fn entry_name(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(name) => name.to_owned(),
        Err(_) => encoding_rs::GBK.decode_without_bom_handling(raw).0.into_owned(),
    }
}

fn decode_gbk(bytes: &[u8]) -> Result<String, BillError> {
    // GBK text with Chinese in it is practically never valid UTF-8: such a file was re-encoded.
    if !bytes.is_ascii() && std::str::from_utf8(bytes).is_ok() {
        return Err(BillError::WrongEncoding { expected: "GBK", found: "UTF-8" });
    }
    let mut decoder = encoding_rs::GBK.new_decoder_without_bom_handling();
    let capacity = decoder
        .max_utf8_buffer_length_without_replacement(bytes.len())
        .ok_or(BillError::TooLarge { len: bytes.len() as u64, max: MAX_BILL_BYTES as u64 })?;
    let mut text = String::with_capacity(capacity);
    let (result, read) = decoder.decode_to_string_without_replacement(bytes, &mut text, true);
    match result {
        encoding_rs::DecoderResult::InputEmpty => Ok(text),
        encoding_rs::DecoderResult::Malformed(..) | encoding_rs::DecoderResult::OutputFull => {
            Err(BillError::Encoding { line: line_of(bytes, read), expected: "GBK" })
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Card gateway: balance transactions, Stripe style.

const CARD_HEADER: [&str; 13] = [
    "id",
    "type",
    "source",
    "amount",
    "fee",
    "net",
    "currency",
    "created",
    "available_on",
    "status",
    "description",
    "metadata[order_id]",
    "metadata[refund_id]",
];

/// The card gateway settles Tote in yuan; its bills state the currency on every row.
const CARD_CURRENCY: &str = "cny";

/// Balance transaction types that move no order's money (payouts to our bank, the gateway's own
/// charges): the parser skips them.
const CARD_SKIPPED_TYPES: [&str; 5] = ["payout", "transfer", "adjustment", "stripe_fee", "topup"];

/// Writes a card gateway balance report for `day` (a UTC day): header, then one row per line.
/// `source` is the payment intent, `amount` is negative on refunds, `net` is amount minus fee,
/// `created` and `available_on` are Unix seconds, `status` is `available`; the ids are `txn_`
/// and the row's position.
pub fn write_card(lines: &[BillLine], day: BillDay) -> Result<Vec<u8>, BillError> {
    let day_start_ms = day.start_ms(0);
    let mut out = String::with_capacity(lines.len().saturating_mul(160).min(MAX_BILL_BYTES).saturating_add(256));
    out.push_str(&CARD_HEADER.join(","));
    out.push_str("\r\n");
    for (index, line) in lines.iter().enumerate() {
        check_line(index, line, ChannelKind::Card, day_start_ms, 0)?;
        if line.status != BillStatus::Success {
            return Err(unrepresentable(index, "a card", line.kind, line.status));
        }
        let (kind, amount) = match line.kind {
            BillKind::Payment => ("charge", line.amount_minor),
            BillKind::Refund => ("refund", -line.amount_minor),
        };
        let net = amount.checked_sub(line.fee_minor).ok_or(BillError::Overflow)?;
        let created = line.at_ms.div_euclid(1000);
        push(
            &mut out,
            format_args!(
                "txn_{index:024},{kind},{},{amount},{},{net},{CARD_CURRENCY},{created},{created},available,,{},{}\r\n",
                line.channel_trade_no,
                line.fee_minor,
                line.out_trade_no,
                line.out_refund_no.as_deref().unwrap_or(""),
            ),
        );
    }
    check_size(out.len())?;
    Ok(out.into_bytes())
}

/// Reads a card gateway balance report. Types `charge`/`payment` are payments and
/// `refund`/`payment_refund` refunds (their amount must be negative); payouts, transfers,
/// adjustments, the gateway's fees and top-ups are skipped; any other type is an error. Every row
/// must have `net` = `amount` − `fee` and currency `cny`. The export has no totals to check.
pub fn parse_card(bytes: &[u8]) -> Result<Vec<BillLine>, BillError> {
    check_size(bytes.len())?;
    let text = utf8(bytes)?;
    let mut records = Records::new(text, true).filter(|(_, record)| !record.trim().is_empty());
    let mut fields = Vec::with_capacity(CARD_HEADER.len());
    let (header_line, header) = records.next().ok_or(BillError::NoHeader)?;
    split_fields(header, header_line, Dialect::Card, &mut fields)?;
    let columns = CardColumns::find(&fields, header_line)?;
    let width = fields.len();
    let mut lines = Vec::new();
    for (line, record) in records {
        split_fields(record, line, Dialect::Card, &mut fields)?;
        check_width(&fields, width, line)?;
        if lines.len() >= MAX_BILL_ROWS {
            return Err(BillError::TooManyRows { max: MAX_BILL_ROWS });
        }
        if let Some(bill_line) = columns.line(&fields, line)? {
            lines.push(bill_line);
        }
    }
    Ok(lines)
}

struct CardColumns {
    id: usize,
    kind: usize,
    source: usize,
    amount: usize,
    fee: usize,
    net: usize,
    currency: usize,
    created: usize,
    status: usize,
    order_id: usize,
    refund_id: usize,
}

impl CardColumns {
    fn find(header: &[Cow<'_, str>], line: usize) -> Result<CardColumns, BillError> {
        let col = |name| find_column(header, name, line);
        Ok(CardColumns {
            id: col("id")?,
            kind: col("type")?,
            source: col("source")?,
            amount: col("amount")?,
            fee: col("fee")?,
            net: col("net")?,
            currency: col("currency")?,
            created: col("created")?,
            status: col("status")?,
            order_id: col("metadata[order_id]")?,
            refund_id: col("metadata[refund_id]")?,
        })
    }

    fn line(&self, fields: &[Cow<'_, str>], line: usize) -> Result<Option<BillLine>, BillError> {
        let cell = Cell { fields, line };
        cell.id(self.id, "id")?;
        let kind = match field(fields, self.kind) {
            "charge" | "payment" => BillKind::Payment,
            "refund" | "payment_refund" => BillKind::Refund,
            skipped if CARD_SKIPPED_TYPES.contains(&skipped) => return Ok(None),
            other => {
                return Err(
                    cell.bad("type", format!("{:?} is not a balance transaction type Tote knows", shorten(other)))
                )
            }
        };
        let amount = cell.minor(self.amount, "amount", Sign::Any)?;
        let fee_minor = cell.minor(self.fee, "fee", Sign::Any)?;
        let net = parse_decimal_up_to(field(fields, self.net), 0, Sign::Any, 2 * Money::MAX_MINOR)
            .map_err(|reason| cell.bad("net", reason))?;
        if amount.checked_sub(fee_minor) != Some(net) {
            return Err(BillError::Row {
                line,
                reason: format!("net {net} is not amount {amount} minus fee {fee_minor}"),
            });
        }
        let currency = field(fields, self.currency);
        if !currency.eq_ignore_ascii_case(CARD_CURRENCY) {
            return Err(cell.bad("currency", format!("{:?} is not {CARD_CURRENCY}", shorten(currency))));
        }
        let status = field(fields, self.status);
        if status != "available" && status != "pending" {
            return Err(cell.bad("status", format!("{:?} is neither available nor pending", shorten(status))));
        }
        let (amount_minor, out_refund_no) = match kind {
            BillKind::Payment if amount > 0 => (amount, None),
            BillKind::Refund if amount < 0 => (-amount, Some(cell.id(self.refund_id, "metadata[refund_id]")?)),
            BillKind::Payment => return Err(cell.bad("amount", "a charge's amount must be above zero".into())),
            BillKind::Refund => return Err(cell.bad("amount", "a refund's amount must be below zero".into())),
        };
        let created = cell.minor(self.created, "created", Sign::NonNegative)?;
        Ok(Some(BillLine {
            channel: ChannelKind::Card,
            kind,
            out_trade_no: cell.id(self.order_id, "metadata[order_id]")?,
            channel_trade_no: cell.id(self.source, "source")?,
            out_refund_no,
            amount_minor,
            fee_minor,
            status: BillStatus::Success,
            // `created` is at most Money::MAX_MINOR, so this cannot overflow.
            at_ms: created * 1000,
        }))
    }
}

// ---------------------------------------------------------------------------------------------
// Text: records, fields, cells.

fn check_size(len: usize) -> Result<(), BillError> {
    if len > MAX_BILL_BYTES {
        return Err(BillError::TooLarge { len: len as u64, max: MAX_BILL_BYTES as u64 });
    }
    Ok(())
}

fn utf8(bytes: &[u8]) -> Result<&str, BillError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes)
        .map_err(|e| BillError::Encoding { line: line_of(bytes, e.valid_up_to()), expected: "UTF-8" })
}

/// The line (from 1) that byte `offset` is on.
fn line_of(bytes: &[u8], offset: usize) -> usize {
    1 + bytes.iter().take(offset).filter(|&&b| b == b'\n').count()
}

/// The records of a CSV text with the line each starts on, without their line end. With
/// `quoted`, a line end inside double quotes belongs to the record (RFC 4180).
struct Records<'a> {
    rest: &'a str,
    line: usize,
    quoted: bool,
}

impl<'a> Records<'a> {
    fn new(text: &'a str, quoted: bool) -> Records<'a> {
        Records { rest: text, line: 1, quoted }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = (usize, &'a str);

    fn next(&mut self) -> Option<(usize, &'a str)> {
        if self.rest.is_empty() {
            return None;
        }
        let end = if self.quoted { quoted_record_end(self.rest) } else { self.rest.find('\n') };
        let (record, rest) = match end {
            Some(i) => (&self.rest[..i], &self.rest[i + 1..]),
            None => (self.rest, ""),
        };
        let line = self.line;
        let inner_line_ends = if self.quoted { record.bytes().filter(|&b| b == b'\n').count() } else { 0 };
        self.line += 1 + inner_line_ends;
        self.rest = rest;
        Some((line, record.strip_suffix('\r').unwrap_or(record)))
    }
}

fn quoted_record_end(text: &str) -> Option<usize> {
    let mut in_quotes = false;
    for (i, b) in text.bytes().enumerate() {
        match b {
            b'"' => in_quotes = !in_quotes,
            b'\n' if !in_quotes => return Some(i),
            _ => {}
        }
    }
    None
}

/// How a channel writes its fields.
#[derive(Clone, Copy)]
enum Dialect {
    /// No quoting; each value behind one backtick (the header has none).
    Wechat,
    /// No quoting; values padded with spaces or tabs.
    Alipay,
    /// RFC 4180: fields may be double-quoted, `""` inside stands for one quote.
    Card,
}

fn split_fields<'a>(
    record: &'a str,
    line: usize,
    dialect: Dialect,
    out: &mut Vec<Cow<'a, str>>,
) -> Result<(), BillError> {
    out.clear();
    match dialect {
        Dialect::Wechat => {
            for raw in record.split(',') {
                push_field(out, Cow::Borrowed(raw.strip_prefix('`').unwrap_or(raw)), line)?;
            }
        }
        Dialect::Alipay => {
            for raw in record.split(',') {
                push_field(out, Cow::Borrowed(raw.trim_matches([' ', '\t'])), line)?;
            }
        }
        Dialect::Card => split_quoted(record, line, out)?,
    }
    Ok(())
}

fn split_quoted<'a>(record: &'a str, line: usize, out: &mut Vec<Cow<'a, str>>) -> Result<(), BillError> {
    let mut rest = record;
    loop {
        let (value, after) = match rest.strip_prefix('"') {
            Some(quoted) => {
                let (value, after) = quoted_field(quoted, line)?;
                (value, after)
            }
            None => {
                let end = rest.find(',').unwrap_or(rest.len());
                let value = &rest[..end];
                if value.contains('"') {
                    return Err(BillError::Quoting { line });
                }
                (Cow::Borrowed(value), &rest[end..])
            }
        };
        push_field(out, value, line)?;
        match after.strip_prefix(',') {
            Some(next) => rest = next,
            None if after.is_empty() => return Ok(()),
            None => return Err(BillError::Quoting { line }),
        }
    }
}

/// Reads a quoted field's value (the opening quote already taken) and returns what follows
/// its closing quote.
fn quoted_field(text: &str, line: usize) -> Result<(Cow<'_, str>, &str), BillError> {
    let mut owned: Option<String> = None;
    let mut start = 0;
    loop {
        let close = start + text[start..].find('"').ok_or(BillError::Quoting { line })?;
        let after = &text[close + 1..];
        if let Some(after_escape) = after.strip_prefix('"') {
            let value = owned.get_or_insert_with(String::new);
            value.push_str(&text[start..=close]);
            if value.len() > MAX_FIELD_BYTES {
                return Err(BillError::FieldTooLong { line, position: 0, max: MAX_FIELD_BYTES });
            }
            start = text.len() - after_escape.len();
            continue;
        }
        let value = match owned {
            Some(mut value) => {
                value.push_str(&text[start..close]);
                Cow::Owned(value)
            }
            None => Cow::Borrowed(&text[..close]),
        };
        return Ok((value, after));
    }
}

fn push_field<'a>(out: &mut Vec<Cow<'a, str>>, value: Cow<'a, str>, line: usize) -> Result<(), BillError> {
    if out.len() >= MAX_FIELDS {
        return Err(BillError::TooManyFields { line, max: MAX_FIELDS });
    }
    if value.len() > MAX_FIELD_BYTES {
        return Err(BillError::FieldTooLong { line, position: out.len() + 1, max: MAX_FIELD_BYTES });
    }
    out.push(value);
    Ok(())
}

fn check_width(fields: &[Cow<'_, str>], expected: usize, line: usize) -> Result<(), BillError> {
    if fields.len() != expected {
        return Err(BillError::FieldCount { line, expected, found: fields.len() });
    }
    Ok(())
}

fn find_column(header: &[Cow<'_, str>], name: &'static str, line: usize) -> Result<usize, BillError> {
    header
        .iter()
        .position(|h| h.trim_start_matches('\u{feff}').trim() == name)
        .ok_or(BillError::MissingColumn { line, column: name })
}

fn field<'f>(fields: &'f [Cow<'_, str>], index: usize) -> &'f str {
    fields.get(index).map_or("", |f| f.as_ref())
}

/// One row's fields with its line, to read typed values with errors that say where.
struct Cell<'f, 'a> {
    fields: &'f [Cow<'a, str>],
    line: usize,
}

impl Cell<'_, '_> {
    fn bad(&self, column: &'static str, reason: String) -> BillError {
        BillError::Field { line: self.line, column, reason }
    }

    fn yuan(&self, index: usize, column: &'static str, sign: Sign) -> Result<i64, BillError> {
        parse_decimal(field(self.fields, index), 2, sign).map_err(|reason| self.bad(column, reason))
    }

    fn minor(&self, index: usize, column: &'static str, sign: Sign) -> Result<i64, BillError> {
        parse_decimal(field(self.fields, index), 0, sign).map_err(|reason| self.bad(column, reason))
    }

    fn above_zero(&self, amount: i64, column: &'static str) -> Result<i64, BillError> {
        if amount <= 0 {
            return Err(self.bad(column, "the amount must be above zero".into()));
        }
        Ok(amount)
    }

    fn id(&self, index: usize, column: &'static str) -> Result<String, BillError> {
        let raw = field(self.fields, index);
        match id_problem(raw) {
            Some(reason) => Err(self.bad(column, reason)),
            None => Ok(raw.to_owned()),
        }
    }

    fn local_time(&self, index: usize, column: &'static str, offset_ms: i64) -> Result<i64, BillError> {
        parse_local_time(field(self.fields, index), offset_ms).map_err(|reason| self.bad(column, reason))
    }
}

/// Identifiers use the characters WeChat Pay allows in `out_trade_no` (a superset of Alipay's
/// and the card gateway's): letters, digits and `_-|*`.
fn id_problem(raw: &str) -> Option<String> {
    if raw.is_empty() {
        return Some("the identifier is empty".into());
    }
    if raw.len() > MAX_ID_BYTES {
        return Some(format!("the identifier is longer than {MAX_ID_BYTES} bytes"));
    }
    let bad = raw.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '|' | '*')))?;
    Some(format!("{:?} holds {bad:?}; identifiers use letters, digits and _-|*", shorten(raw)))
}

/// Error messages echo the bad input; keep them short whatever a file holds.
fn shorten(raw: &str) -> String {
    raw.chars().take(40).collect()
}

// ---------------------------------------------------------------------------------------------
// Money and time, exactly.

/// Which signs an amount column allows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sign {
    NonNegative,
    Any,
}

/// The largest total a bill may state: every row at the largest amount.
const MAX_TOTAL_MINOR: i64 = Money::MAX_MINOR * MAX_BILL_ROWS as i64;

/// Reads `-?digits(.digits)?` with at most `decimals` decimals into minor units, refusing
/// anything else (`1e5`, `12.5.0`, `+3`, ` 3`, `.5`, `5.`) and anything beyond
/// `Money::MAX_MINOR` either way.
fn parse_decimal(raw: &str, decimals: usize, sign: Sign) -> Result<i64, String> {
    parse_decimal_up_to(raw, decimals, sign, Money::MAX_MINOR)
}

/// `parse_decimal` for totals and differences, which may exceed a single amount's limit.
fn parse_decimal_up_to(raw: &str, decimals: usize, sign: Sign, max: i64) -> Result<i64, String> {
    let (negative, unsigned) = match raw.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, raw),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let is_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let has_point = unsigned.len() != whole.len();
    let well_formed = !whole.is_empty()
        && is_digits(whole)
        && is_digits(fraction)
        && (!has_point || (!fraction.is_empty() && fraction.len() <= decimals));
    if !well_formed {
        return Err(if decimals == 0 {
            format!("{:?} is not a whole number", shorten(raw))
        } else {
            format!("{:?} is not an amount in yuan (digits, then at most {decimals} decimals)", shorten(raw))
        });
    }
    if negative && sign == Sign::NonNegative {
        return Err(format!("{:?} is negative", shorten(raw)));
    }
    let out_of_range = || format!("{:?} is beyond the limit of {max} minor units", shorten(raw));
    // Leading zeros aside, more than 18 whole digits is out of range; stop before parsing them.
    let whole = whole.trim_start_matches('0');
    if whole.len() > 18 {
        return Err(out_of_range());
    }
    let mut value: i64 = 0;
    let padded = fraction.bytes().chain(std::iter::repeat(b'0')).take(decimals);
    for digit in whole.bytes().chain(padded) {
        value = value.checked_mul(10).and_then(|v| v.checked_add(i64::from(digit - b'0'))).ok_or_else(out_of_range)?;
    }
    if value > max {
        return Err(out_of_range());
    }
    Ok(if negative { -value } else { value })
}

/// Minor units shown in yuan with two decimals: `1250` is `12.50`, `-5` is `-0.05`.
pub(crate) struct Yuan(pub(crate) i64);

impl fmt::Display for Yuan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// Appends to a String, which cannot fail.
fn push(out: &mut String, args: fmt::Arguments<'_>) {
    let _ = out.write_fmt(args);
}

/// Reads `YYYY-MM-DD HH:MM:SS` in a zone `offset_ms` east of UTC into Unix milliseconds.
fn parse_local_time(raw: &str, offset_ms: i64) -> Result<i64, String> {
    crate::calendar::parse_local_time(raw, offset_ms).map_err(|why| match why {
        crate::calendar::BadTime::Shape => format!("{:?} is not a time written YYYY-MM-DD HH:MM:SS", shorten(raw)),
        crate::calendar::BadTime::NotReal => format!("{:?} is not a real time", shorten(raw)),
    })
}

/// Appends `YYYY-MM-DD HH:MM:SS` for `at_ms` in a zone `offset_ms` east of UTC.
fn push_local_time(out: &mut String, at_ms: i64, offset_ms: i64) {
    let _ = crate::calendar::write_local_time(out, at_ms, offset_ms);
}

fn digits(b: &[u8]) -> Option<i64> {
    b.iter().try_fold(0i64, |acc, &d| d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0')))
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
use crate::calendar::{civil_from_days, days_from_civil};

// ---------------------------------------------------------------------------------------------
// Writing: what every channel's writer checks first.

fn check_line(
    index: usize,
    line: &BillLine,
    channel: ChannelKind,
    day_start_ms: i64,
    offset_ms: i64,
) -> Result<(), BillError> {
    let fail = |reason: String| Err(BillError::Unwritable { index, reason });
    if line.channel != channel {
        return fail(format!("it belongs to the {} channel, not {}", line.channel.as_str(), channel.as_str()));
    }
    for (name, id) in [("out_trade_no", &line.out_trade_no), ("channel_trade_no", &line.channel_trade_no)] {
        if let Some(problem) = id_problem(id) {
            return fail(format!("{name}: {problem}"));
        }
    }
    match (line.kind, &line.out_refund_no) {
        (BillKind::Payment, Some(_)) => return fail("a payment carries no out_refund_no".into()),
        (BillKind::Refund, None) => return fail("a refund needs its out_refund_no".into()),
        (BillKind::Refund, Some(no)) => {
            if let Some(problem) = id_problem(no) {
                return fail(format!("out_refund_no: {problem}"));
            }
        }
        (BillKind::Payment, None) => {}
    }
    if !(1..=Money::MAX_MINOR).contains(&line.amount_minor) {
        return fail(format!("amount {} is not between 1 and {}", line.amount_minor, Money::MAX_MINOR));
    }
    if !(-Money::MAX_MINOR..=Money::MAX_MINOR).contains(&line.fee_minor) {
        return fail(format!("fee {} is beyond ±{}", line.fee_minor, Money::MAX_MINOR));
    }
    if !(day_start_ms..day_start_ms + DAY_MS).contains(&line.at_ms) {
        let mut at = String::new();
        push_local_time(&mut at, line.at_ms.clamp(0, 253_402_300_799_000 - offset_ms), offset_ms);
        return fail(format!("it is dated {at}, outside the bill's day"));
    }
    Ok(())
}

fn unrepresentable(index: usize, bill: &str, kind: BillKind, status: BillStatus) -> BillError {
    BillError::Unwritable {
        index,
        reason: format!("{bill} bill cannot show a {} that is {}", kind.as_str(), status.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn day() -> BillDay {
        BillDay::new(2024, 5, 1).expect("a real day")
    }

    /// Unix milliseconds of a UTC wall-clock time.
    fn utc_ms(year: i64, month: i64, day: i64, hour: i64, minute: i64, second: i64) -> i64 {
        (days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second) * 1000
    }

    fn payment(channel: ChannelKind, out_trade_no: &str, amount_minor: i64, fee_minor: i64, at_ms: i64) -> BillLine {
        BillLine {
            channel,
            kind: BillKind::Payment,
            out_trade_no: out_trade_no.into(),
            channel_trade_no: format!("CH{out_trade_no}"),
            out_refund_no: None,
            amount_minor,
            fee_minor,
            status: BillStatus::Success,
            at_ms,
        }
    }

    fn refund(
        channel: ChannelKind,
        out_trade_no: &str,
        out_refund_no: &str,
        amount_minor: i64,
        at_ms: i64,
    ) -> BillLine {
        BillLine {
            kind: BillKind::Refund,
            out_refund_no: Some(out_refund_no.into()),
            fee_minor: 0,
            ..payment(channel, out_trade_no, amount_minor, 0, at_ms)
        }
    }

    // --- WeChat Pay ----------------------------------------------------------------------

    const WECHAT_SAMPLE_HEADER: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注";

    /// A paid row as WeChat writes it, with `total` in 订单金额.
    fn wechat_payment_row(out_trade_no: &str, total: &str) -> String {
        format!("`2024-05-01 09:15:02,`wx2421b1c4370ec43b,`10000100,`0,`,`4200001234202405011234567890,`{out_trade_no},`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`JSAPI,`SUCCESS,`OTHERS,`CNY,`12.50,`0.00,`0,`0,`0.00,`0.00,`,`,`Tote 订单,`,`0.08,`0.60%,`{total},`0.00,`")
    }

    fn wechat_sample(summary: &str) -> String {
        [
            "\u{feff}".to_owned() + WECHAT_SAMPLE_HEADER,
            wechat_payment_row("T20240501000001", "12.50"),
            // WeChat's own samples write amounts with fewer decimals at times.
            "`2024-05-01 10:00:00,`wx2421b1c4370ec43b,`10000100,`0,`,`4200001234202405011234567891,`T20240501000002,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,`SUCCESS,`OTHERS,`CNY,`0.1,`0.0,`0,`0,`0,`0,`,`,`Tote 订单,`,`0,`0.60%,`0.1,`0,`".to_owned(),
            "`2024-05-01 18:30:00,`wx2421b1c4370ec43b,`10000100,`0,`,`4200001234202405011234567890,`T20240501000001,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`JSAPI,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`50300001,`R20240501000001,`5.00,`0.00,`ORIGINAL,`SUCCESS,`Tote 订单,`,`-0.03,`0.60%,`0.00,`5.00,`".to_owned(),
            "".to_owned(),
            "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额".to_owned(),
            summary.to_owned(),
        ]
        .join("\r\n")
    }

    const WECHAT_SAMPLE_SUMMARY: &str = "`3,`12.60,`5.00,`0.00,`0.05,`12.60,`5.00";

    #[test]
    fn wechat_sample_bill_reads_into_lines() {
        let lines = parse_wechat(wechat_sample(WECHAT_SAMPLE_SUMMARY).as_bytes()).expect("a valid bill");
        let first = BillLine {
            channel_trade_no: "4200001234202405011234567890".into(),
            ..payment(ChannelKind::Wechat, "T20240501000001", 1250, 8, utc_ms(2024, 5, 1, 1, 15, 2))
        };
        let second = BillLine {
            channel_trade_no: "4200001234202405011234567891".into(),
            ..payment(ChannelKind::Wechat, "T20240501000002", 10, 0, utc_ms(2024, 5, 1, 2, 0, 0))
        };
        let third = BillLine {
            channel_trade_no: "4200001234202405011234567890".into(),
            fee_minor: -3,
            ..refund(ChannelKind::Wechat, "T20240501000001", "R20240501000001", 500, utc_ms(2024, 5, 1, 10, 30, 0))
        };
        assert_eq!(lines, vec![first, second, third]);
        let summary = BillSummary::of(&lines).expect("no overflow");
        assert_eq!(
            summary,
            BillSummary { count: 3, total_amount_minor: 1260, total_refund_minor: 500, total_fee_minor: 5 }
        );
    }

    #[test]
    fn wechat_amounts_that_are_not_exact_yuan_are_refused_with_their_line_and_column() {
        for bad in ["12.5.0", "-3.00", "1e5", "", "12.505", "+1.00", " 1.00", ".50", "1.", "1,00", "99999999999.00"] {
            let bill = [WECHAT_SAMPLE_HEADER.to_owned(), wechat_payment_row("T1", bad)].join("\n");
            match parse_wechat(bill.as_bytes()) {
                Err(BillError::Field { line: 2, column: "订单金额", .. }) => {}
                // A comma inside a value shifts the columns: WeChat does not quote.
                Err(BillError::FieldCount { line: 2, .. }) if bad.contains(',') => {}
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn wechat_summary_that_disagrees_with_the_rows_is_refused() {
        let wrong_fee = wechat_sample("`3,`12.60,`5.00,`0.00,`0.06,`12.60,`5.00");
        assert_eq!(
            parse_wechat(wrong_fee.as_bytes()),
            Err(BillError::SummaryMismatch { line: 7, what: "手续费总金额", stated: 6, computed: 5 })
        );
        let wrong_count = wechat_sample("`4,`12.60,`5.00,`0.00,`0.05,`12.60,`5.00");
        assert_eq!(
            parse_wechat(wrong_count.as_bytes()),
            Err(BillError::SummaryMismatch { line: 7, what: "总交易单数", stated: 4, computed: 3 })
        );
    }

    #[test]
    fn wechat_bill_cut_off_before_its_summary_is_refused() {
        let bill = [WECHAT_SAMPLE_HEADER.to_owned(), wechat_payment_row("T1", "12.50")].join("\r\n");
        assert!(matches!(parse_wechat(bill.as_bytes()), Err(BillError::MissingSummary { .. })));
        let header_only = wechat_sample(WECHAT_SAMPLE_SUMMARY);
        let (before_summary_row, _) = header_only.rsplit_once("\r\n").expect("has lines");
        assert!(matches!(parse_wechat(before_summary_row.as_bytes()), Err(BillError::MissingSummary { .. })));
    }

    #[test]
    fn wechat_bill_in_gbk_is_refused_as_not_utf8() {
        let text = wechat_sample(WECHAT_SAMPLE_SUMMARY);
        let (gbk, _, _) = encoding_rs::GBK.encode(&text);
        assert_eq!(parse_wechat(&gbk), Err(BillError::Encoding { line: 1, expected: "UTF-8" }));
    }

    #[test]
    fn wechat_row_with_an_unknown_trade_state_or_currency_is_refused() {
        let bill = wechat_sample(WECHAT_SAMPLE_SUMMARY).replacen("`SUCCESS,`OTHERS", "`NOTPAY,`OTHERS", 1);
        assert!(matches!(parse_wechat(bill.as_bytes()), Err(BillError::Field { line: 2, column: "交易状态", .. })));
        let bill = wechat_sample(WECHAT_SAMPLE_SUMMARY).replacen("`CNY", "`USD", 1);
        assert!(matches!(parse_wechat(bill.as_bytes()), Err(BillError::Field { line: 2, column: "货币种类", .. })));
    }

    #[test]
    fn wechat_text_after_the_summary_row_is_refused() {
        let bill = wechat_sample(WECHAT_SAMPLE_SUMMARY) + "\r\n`1,`2";
        assert_eq!(
            parse_wechat(bill.as_bytes()),
            Err(BillError::Row { line: 8, reason: "text after the summary row".into() })
        );
    }

    #[test]
    fn wechat_header_without_an_order_number_column_is_refused() {
        let bill = wechat_sample(WECHAT_SAMPLE_SUMMARY).replacen("商户订单号", "订单号", 1);
        assert_eq!(parse_wechat(bill.as_bytes()), Err(BillError::MissingColumn { line: 1, column: "商户订单号" }));
    }

    #[test]
    fn wechat_bill_writes_the_header_backticked_rows_and_summary() {
        let at = utc_ms(2024, 5, 1, 1, 15, 2);
        let bill = write_wechat(&[payment(ChannelKind::Wechat, "T1", 1250, 8, at)], day()).expect("writable");
        let text = String::from_utf8(bill).expect("UTF-8");
        let rows: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(rows[0], WECHAT_SAMPLE_HEADER);
        assert!(rows[1].starts_with("`2024-05-01 09:15:02,"), "{}", rows[1]);
        assert!(rows[1].split(',').all(|f| f.starts_with('`')));
        assert_eq!(rows[2], WECHAT_SUMMARY_HEADER.join(","));
        assert_eq!(rows[3], "`1,`12.50,`0.00,`0.00,`0.08,`12.50,`0.00");
        assert_eq!(rows[4], "");
    }

    // --- Alipay --------------------------------------------------------------------------

    fn alipay_sample(payment_total: &str) -> String {
        [
            "#支付宝业务明细查询",
            "#账号：[20881234567890120156]",
            "#起始日期：[2024年05月01日 00:00:00]   终止日期：[2024年05月02日 00:00:00]",
            "#-----------------------------------------业务明细列表----------------------------------------",
            "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注",
            "2024050122001401011234567890\t,T20240501000001\t,交易,Tote 订单,2024-05-01 09:14:40,2024-05-01 09:15:02,,,,,ali***@example.com,12.50,12.50,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,\t,-0.08,0.00,",
            "2024050122001401011234567890\t,T20240501000001\t,退款,Tote 订单,2024-05-01 18:29:00,2024-05-01 18:30:00,,,,,ali***@example.com,-5.00,-5.00,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,RF20240501000001\t,0.03,0.00,客户退货",
            "#-----------------------------------------业务明细列表结束------------------------------------",
            payment_total,
            "#退款合计：1笔，商家实收共-5.00元，商家优惠共0.00元",
            "#导出时间：[2024年05月02日 09:12:34]",
        ]
        .join("\r\n")
    }

    const ALIPAY_SAMPLE_PAYMENT_TOTAL: &str = "#交易合计：1笔，商家实收共12.50元，商家优惠共0.00元";

    fn alipay_zip(csv: &str) -> Vec<u8> {
        let (gbk, _, unmappable) = encoding_rs::GBK.encode(csv);
        assert!(!unmappable);
        zip_one("20881234567890120156_20240501_业务明细.csv", &gbk).expect("zipped")
    }

    #[test]
    fn alipay_sample_bill_reads_into_lines() {
        let lines = parse_alipay(&alipay_zip(&alipay_sample(ALIPAY_SAMPLE_PAYMENT_TOTAL))).expect("a valid bill");
        let paid = BillLine {
            channel_trade_no: "2024050122001401011234567890".into(),
            ..payment(ChannelKind::Alipay, "T20240501000001", 1250, 8, utc_ms(2024, 5, 1, 1, 15, 2))
        };
        let refunded = BillLine {
            channel_trade_no: "2024050122001401011234567890".into(),
            fee_minor: -3,
            ..refund(ChannelKind::Alipay, "T20240501000001", "RF20240501000001", 500, utc_ms(2024, 5, 1, 10, 30, 0))
        };
        assert_eq!(lines, vec![paid, refunded]);
    }

    #[test]
    fn alipay_totals_that_disagree_with_the_rows_are_refused() {
        let bill = alipay_zip(&alipay_sample("#交易合计：2笔，商家实收共12.50元，商家优惠共0.00元"));
        assert_eq!(
            parse_alipay(&bill),
            Err(BillError::SummaryMismatch { line: 9, what: "交易笔数", stated: 2, computed: 1 })
        );
        let bill = alipay_zip(&alipay_sample("#交易合计：1笔，商家实收共12.05元，商家优惠共0.00元"));
        assert_eq!(
            parse_alipay(&bill),
            Err(BillError::SummaryMismatch { line: 9, what: "交易商家实收", stated: 1205, computed: 1250 })
        );
        let without_totals = alipay_sample(ALIPAY_SAMPLE_PAYMENT_TOTAL).replace("#交易合计", "#合计");
        assert!(matches!(parse_alipay(&alipay_zip(&without_totals)), Err(BillError::MissingSummary { .. })));
    }

    #[test]
    fn truncated_alipay_archive_is_refused() {
        let lines = [payment(ChannelKind::Alipay, "T1", 1250, 8, utc_ms(2024, 5, 1, 3, 0, 0))];
        let bill = write_alipay(&lines, day()).expect("writable");
        assert_eq!(parse_alipay(&bill), Ok(lines.to_vec()));
        for cut in [bill.len() - 1, bill.len() - 30, bill.len() / 2, 30, 4] {
            assert!(matches!(parse_alipay(&bill[..cut]), Err(BillError::Archive { .. })), "cut at {cut}");
        }
    }

    #[test]
    fn alipay_archive_with_corrupted_compressed_data_is_refused() {
        let lines: Vec<BillLine> = (0..50)
            .map(|i| payment(ChannelKind::Alipay, &format!("T{i}"), 100 + i, 1, utc_ms(2024, 5, 1, 3, 0, 0)))
            .collect();
        let mut bill = write_alipay(&lines, day()).expect("writable");
        // Inside the deflated data, after the local header and name: the CRC check must fail.
        bill[120] ^= 0xff;
        assert!(parse_alipay(&bill).is_err());
    }

    #[test]
    fn alipay_csv_written_in_utf8_is_refused() {
        let csv = alipay_sample(ALIPAY_SAMPLE_PAYMENT_TOTAL);
        let bill = zip_one("20881234567890120156_20240501_业务明细.csv", csv.as_bytes()).expect("zipped");
        assert_eq!(parse_alipay(&bill), Err(BillError::WrongEncoding { expected: "GBK", found: "UTF-8" }));
    }

    #[test]
    fn alipay_csv_with_bytes_that_are_not_gbk_is_refused_at_their_line() {
        let text = alipay_sample(ALIPAY_SAMPLE_PAYMENT_TOTAL);
        let (gbk, _, _) = encoding_rs::GBK.encode(&text);
        let mut bytes = gbk.into_owned();
        let at = bytes.iter().position(|&b| b == b'T').expect("an order number");
        bytes[at] = 0xff; // a GBK lead byte that starts no character
        bytes[at + 1] = b',';
        let bill = zip_one("x_20240501_业务明细.csv", &bytes).expect("zipped");
        assert_eq!(parse_alipay(&bill), Err(BillError::Encoding { line: 6, expected: "GBK" }));
    }

    #[test]
    fn alipay_archive_without_a_detail_file_or_not_a_zip_is_refused() {
        let summary_only = zip_one("x_20240501_业务明细(汇总).csv", b"#").expect("zipped");
        assert!(matches!(parse_alipay(&summary_only), Err(BillError::Archive { .. })));
        let plain_csv = alipay_sample(ALIPAY_SAMPLE_PAYMENT_TOTAL);
        assert!(matches!(parse_alipay(plain_csv.as_bytes()), Err(BillError::Archive { .. })));
    }

    #[test]
    fn alipay_refund_with_a_positive_amount_is_refused() {
        let csv = alipay_sample(ALIPAY_SAMPLE_PAYMENT_TOTAL).replacen(",-5.00,-5.00,", ",5.00,-5.00,", 1);
        assert!(matches!(
            parse_alipay(&alipay_zip(&csv)),
            Err(BillError::Field { line: 7, column: "订单金额（元）", .. })
        ));
    }

    // --- Card gateway --------------------------------------------------------------------

    #[test]
    fn card_sample_report_reads_into_lines_and_skips_payouts() {
        let report = "id,type,source,amount,fee,net,currency,created,available_on,status,description,metadata[order_id],metadata[refund_id]\n\
            txn_1PAbc,charge,pi_3PAbc,1250,66,1184,cny,1714526102,1714699000,available,\"Order T1, two items\",T1,\n\
            txn_1PAbd,refund,pi_3PAbc,-500,0,-500,cny,1714559400,1714559400,pending,\"said \"\"too small\"\"\non the phone\",T1,R1\n\
            txn_1PAbe,payout,po_1PAbe,-750,0,-750,cny,1714600000,1714600000,available,,,\n";
        let lines = parse_card(report.as_bytes()).expect("a valid report");
        let paid = BillLine {
            channel_trade_no: "pi_3PAbc".into(),
            ..payment(ChannelKind::Card, "T1", 1250, 66, 1_714_526_102_000)
        };
        let refunded = BillLine {
            channel_trade_no: "pi_3PAbc".into(),
            ..refund(ChannelKind::Card, "T1", "R1", 500, 1_714_559_400_000)
        };
        assert_eq!(lines, vec![paid, refunded]);
    }

    #[test]
    fn card_row_whose_net_is_not_amount_minus_fee_is_refused() {
        let report = format!(
            "{}\ntxn_1,charge,pi_1,1250,66,1185,cny,1714526102,1714526102,available,,T1,\n",
            CARD_HEADER.join(",")
        );
        assert!(matches!(parse_card(report.as_bytes()), Err(BillError::Row { line: 2, .. })));
    }

    #[test]
    fn card_amounts_that_are_not_whole_minor_units_are_refused() {
        for bad in ["12.50", "1e5", "-", "12 50", "0x10"] {
            let report = format!(
                "{}\ntxn_1,charge,pi_1,{bad},0,{bad},cny,1714526102,1714526102,available,,T1,\n",
                CARD_HEADER.join(",")
            );
            assert!(
                matches!(parse_card(report.as_bytes()), Err(BillError::Field { line: 2, column: "amount", .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn card_report_with_an_unclosed_quote_is_refused() {
        let report = format!("{}\ntxn_1,charge,pi_1,1,0,1,cny,1,1,available,\"open,T1,\n", CARD_HEADER.join(","));
        assert_eq!(parse_card(report.as_bytes()), Err(BillError::Quoting { line: 2 }));
        let report = format!("{}\ntxn_1,charge,pi_1,1,0,1,cny,1,1,available,\"a\"b,T1,\n", CARD_HEADER.join(","));
        assert_eq!(parse_card(report.as_bytes()), Err(BillError::Quoting { line: 2 }));
    }

    // --- Every format --------------------------------------------------------------------

    #[test]
    fn garbage_is_refused_by_every_parser_without_panicking() {
        let mut seed: u32 = 0x9e37_79b9;
        let mut noise = vec![0u8; 4096];
        for b in &mut noise {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            *b = seed as u8;
        }
        let samples: [&[u8]; 7] = [
            b"",
            b"\x00\x01\x02garbage\xff\xfe",
            b"PK\x03\x04 not really a zip",
            b"a,b,c\n1,2,3\n",
            b"\n\n\r\n",
            "交易时间\n`x".as_bytes(),
            &noise,
        ];
        for sample in samples {
            assert!(parse_wechat(sample).is_err(), "{sample:?}");
            assert!(parse_alipay(sample).is_err(), "{sample:?}");
            assert!(parse_card(sample).is_err(), "{sample:?}");
        }
    }

    #[test]
    fn overlong_fields_and_rows_are_refused() {
        let long = "9".repeat(MAX_FIELD_BYTES + 1);
        let bill = [WECHAT_SAMPLE_HEADER.to_owned(), wechat_payment_row(&long, "1.00")].join("\n");
        assert_eq!(
            parse_wechat(bill.as_bytes()),
            Err(BillError::FieldTooLong { line: 2, position: 7, max: MAX_FIELD_BYTES })
        );
        let wide = format!("{}\n{}", CARD_HEADER.join(","), ",".repeat(MAX_FIELDS));
        assert_eq!(parse_card(wide.as_bytes()), Err(BillError::TooManyFields { line: 2, max: MAX_FIELDS }));
        let id = "9".repeat(MAX_ID_BYTES + 1);
        let bill = [WECHAT_SAMPLE_HEADER.to_owned(), wechat_payment_row(&id, "1.00")].join("\n");
        assert!(matches!(parse_wechat(bill.as_bytes()), Err(BillError::Field { column: "商户订单号", .. })));
    }

    #[test]
    fn bill_larger_than_the_limit_is_refused_before_it_is_read() {
        assert_eq!(check_size(MAX_BILL_BYTES), Ok(()));
        assert_eq!(
            check_size(MAX_BILL_BYTES + 1),
            Err(BillError::TooLarge { len: MAX_BILL_BYTES as u64 + 1, max: MAX_BILL_BYTES as u64 })
        );
    }

    #[test]
    fn writers_refuse_lines_their_format_cannot_hold() {
        let at = utc_ms(2024, 5, 1, 3, 0, 0);
        let good = payment(ChannelKind::Alipay, "T1", 100, 1, at);
        let cases = [
            BillLine { channel: ChannelKind::Wechat, ..good.clone() },
            BillLine { at_ms: utc_ms(2024, 5, 1, 16, 0, 0), ..good.clone() }, // 00:00 on 2 May in Beijing
            BillLine { out_refund_no: Some("R1".into()), ..good.clone() },
            BillLine { kind: BillKind::Refund, ..good.clone() },
            BillLine { status: BillStatus::Processing, ..good.clone() },
            BillLine { out_trade_no: "T,1".into(), ..good.clone() },
            BillLine { amount_minor: 0, ..good.clone() },
            BillLine { amount_minor: -5, ..good.clone() },
        ];
        for bad in cases {
            let lines = [good.clone(), bad.clone()];
            assert!(matches!(write_alipay(&lines, day()), Err(BillError::Unwritable { index: 1, .. })), "{bad:?}");
        }
        let processing_payment =
            BillLine { status: BillStatus::Processing, ..payment(ChannelKind::Wechat, "T1", 100, 1, at) };
        assert!(matches!(write_wechat(&[processing_payment], day()), Err(BillError::Unwritable { index: 0, .. })));
        let card_before_its_utc_day = payment(ChannelKind::Card, "T1", 100, 1, utc_ms(2024, 4, 30, 23, 59, 59));
        assert!(matches!(write_card(&[card_before_its_utc_day], day()), Err(BillError::Unwritable { index: 0, .. })));
    }

    #[test]
    fn money_is_read_exactly_into_minor_units() {
        let yuan = |raw| parse_decimal(raw, 2, Sign::Any);
        assert_eq!(yuan("12.50"), Ok(1250));
        assert_eq!(yuan("12.5"), Ok(1250));
        assert_eq!(yuan("12"), Ok(1200));
        assert_eq!(yuan("0.01"), Ok(1));
        assert_eq!(yuan("-0.03"), Ok(-3));
        assert_eq!(yuan("000012.50"), Ok(1250));
        assert_eq!(yuan("100000000.00"), Ok(Money::MAX_MINOR));
        assert!(yuan("100000000.01").is_err());
        assert!(yuan("99999999999999999999999.00").is_err());
        assert!(parse_decimal("-3.00", 2, Sign::NonNegative).is_err());
        assert_eq!(parse_decimal("-1250", 0, Sign::Any), Ok(-1250));
        assert!(parse_decimal("12.0", 0, Sign::Any).is_err());
        assert_eq!(Yuan(-5).to_string(), "-0.05");
        assert_eq!(Yuan(1250).to_string(), "12.50");
    }

    #[test]
    fn calendar_arithmetic_matches_unix_time() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 1, 1), 10_957);
        assert_eq!(days_from_civil(2024, 5, 1) * 86_400, 1_714_521_600);
        for days in (0..2_932_896).step_by(97) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(parse_local_time("2024-05-01 08:00:00", BEIJING_OFFSET_MS), Ok(1_714_521_600_000));
        assert!(parse_local_time("2023-02-29 08:00:00", 0).is_err());
        assert!(parse_local_time("2024-05-01T08:00:00", 0).is_err());
        assert!(parse_local_time("2024-05-01 24:00:00", 0).is_err());
        let mut out = String::new();
        push_local_time(&mut out, 1_714_521_600_999, BEIJING_OFFSET_MS);
        assert_eq!(out, "2024-05-01 08:00:00");
    }

    #[test]
    fn bill_days_parse_only_real_dates() {
        assert_eq!(BillDay::parse("2024-02-29"), BillDay::new(2024, 2, 29));
        assert!(BillDay::new(2024, 2, 29).is_some());
        assert_eq!(BillDay::parse("2023-02-29"), None);
        assert_eq!(BillDay::parse("2024-5-01"), None);
        assert_eq!(BillDay::parse("1969-12-31"), None);
        assert_eq!(day().to_string(), "2024-05-01");
    }

    // --- Round trips ---------------------------------------------------------------------

    fn identifier() -> impl Strategy<Value = String> {
        "[A-Za-z0-9_|*-]{1,32}"
    }

    fn lines_of(channel: ChannelKind, offset_ms: i64) -> impl Strategy<Value = Vec<BillLine>> {
        let shapes = match channel {
            ChannelKind::Wechat => vec![
                (BillKind::Payment, BillStatus::Success),
                (BillKind::Payment, BillStatus::Revoked),
                (BillKind::Payment, BillStatus::Closed),
                (BillKind::Refund, BillStatus::Success),
                (BillKind::Refund, BillStatus::Processing),
                (BillKind::Refund, BillStatus::Closed),
                (BillKind::Refund, BillStatus::Failed),
            ],
            ChannelKind::Alipay | ChannelKind::Card => {
                vec![(BillKind::Payment, BillStatus::Success), (BillKind::Refund, BillStatus::Success)]
            }
        };
        let day_start_ms = day().start_ms(offset_ms);
        let line = (
            proptest::sample::select(shapes),
            identifier(),
            identifier(),
            identifier(),
            1..=Money::MAX_MINOR,
            -Money::MAX_MINOR..=Money::MAX_MINOR,
            0..86_400i64,
        )
            .prop_map(
                move |((kind, status), out_trade_no, channel_trade_no, refund_no, amount_minor, fee_minor, second)| {
                    BillLine {
                        channel,
                        kind,
                        out_trade_no,
                        channel_trade_no,
                        out_refund_no: (kind == BillKind::Refund).then_some(refund_no),
                        amount_minor,
                        fee_minor,
                        status,
                        at_ms: day_start_ms + second * 1000,
                    }
                },
            );
        proptest::collection::vec(line, 0..40)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn wechat_bill_round_trips(lines in lines_of(ChannelKind::Wechat, BEIJING_OFFSET_MS)) {
            let bill = write_wechat(&lines, day()).expect("writable");
            prop_assert_eq!(parse_wechat(&bill), Ok(lines));
        }

        #[test]
        fn alipay_bill_round_trips(lines in lines_of(ChannelKind::Alipay, BEIJING_OFFSET_MS)) {
            let bill = write_alipay(&lines, day()).expect("writable");
            prop_assert_eq!(parse_alipay(&bill), Ok(lines));
        }

        #[test]
        fn card_bill_round_trips(lines in lines_of(ChannelKind::Card, 0)) {
            let bill = write_card(&lines, day()).expect("writable");
            prop_assert_eq!(parse_card(&bill), Ok(lines));
        }

        #[test]
        fn parsers_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_wechat(&bytes);
            let _ = parse_alipay(&bytes);
            let _ = parse_card(&bytes);
        }

        #[test]
        fn parsers_never_panic_on_a_damaged_bill(
            lines in lines_of(ChannelKind::Wechat, BEIJING_OFFSET_MS),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let mut bill = write_wechat(&lines, day()).expect("writable");
            let i = at.index(bill.len());
            bill[i] = byte;
            let _ = parse_wechat(&bill);
        }
    }
}
