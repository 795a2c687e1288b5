//! Shipping labels in ZPL II for Zebra-compatible printers (raw TCP 9100): the carrier's
//! waybill number as Code 128, the destination code the carrier sorts by (printed large), the
//! parcel's SSCC as GS1-128 with AI (00), and the addresses.

use crate::sync::ShipTo;

/// Builds an SSCC: extension digit, GS1 company prefix and serial reference (17 digits in
/// total), plus the GS1 check digit. None if the parts are not digits or do not add up.
pub fn sscc(extension: u8, company_prefix: &str, serial_reference: u64) -> Option<String> {
    if extension > 9 || company_prefix.is_empty() || !company_prefix.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let serial_width = 16usize.checked_sub(company_prefix.len())?;
    let serial = format!("{serial_reference:0serial_width$}");
    if serial.len() != serial_width {
        return None;
    }
    let body = format!("{extension}{company_prefix}{serial}");
    let sum: u32 = body.bytes().rev().enumerate().map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 3 } else { 1 }).sum();
    Some(format!("{body}{}", (10 - sum % 10) % 10))
}

pub struct ShippingLabel<'a> {
    pub order_id: u64,
    pub carrier: &'a str,
    pub tracking_number: &'a str,
    /// The destination code (the city's area code), when the city is known.
    pub route_code: Option<&'a str>,
    pub sscc: &'a str,
    pub ship_to: &'a ShipTo,
    pub from: &'a str,
}

/// ZPL fields must not contain the format's control characters.
fn field(text: &str) -> String {
    text.chars().filter(|c| !matches!(c, '^' | '~' | '\r' | '\n')).take(60).collect()
}

impl ShippingLabel<'_> {
    /// A 4×6 inch label at 203 dpi.
    pub fn zpl(&self) -> String {
        let to = self.ship_to;
        format!(
            "^XA^CI28^PW812^LL1218\n\
             ^FO40,40^A0N,36,36^FDFROM: {from}^FS\n\
             ^FO560,30^A0N,110,110^FD{route}^FS\n\
             ^FO40,110^A0N,48,48^FD{name}^FS\n\
             ^FO40,170^A0N,40,40^FD{line1}^FS\n\
             ^FO40,220^A0N,40,40^FD{postcode} {city}^FS\n\
             ^FO40,300^A0N,44,44^FD{carrier} · ORDER {order}^FS\n\
             ^FO40,370^BY3^BCN,160,Y,N,N^FD{tracking}^FS\n\
             ^FO40,640^A0N,30,30^FDSSCC^FS\n\
             ^FO40,680^BY3^BCN,180,Y,N,N,D^FD(00){sscc}^FS\n\
             ^XZ\n",
            from = field(self.from),
            name = field(&to.name),
            line1 = field(&to.line1),
            postcode = field(&to.postcode),
            city = field(&to.city),
            carrier = field(self.carrier),
            order = self.order_id,
            tracking = field(self.tracking_number),
            route = field(self.route_code.unwrap_or("")),
            sscc = field(self.sscc),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sscc_has_eighteen_digits_and_a_valid_check_digit() {
        // The GS1 General Specifications' example SSCC.
        assert_eq!(sscc(1, "0614141", 123_456_789).as_deref(), Some("106141411234567897"));
        assert_eq!(sscc(0, "12345678901234567", 1), None, "prefix too long");
        assert_eq!(sscc(0, "0614141", 1_000_000_000), None, "serial does not fit");
    }

    #[test]
    fn a_label_carries_tracking_sscc_and_address_without_zpl_injection() {
        let to = ShipTo { name: "Li ^XZ Wei".into(), line1: "88 Century Avenue".into(), city: "Shanghai".into(), postcode: "200120".into(), phone: String::new() };
        let zpl = ShippingLabel { order_id: 7, carrier: "SF", tracking_number: "SF123", route_code: Some("021"), sscc: "106141411234567897", ship_to: &to, from: "Tote SH-01" }.zpl();
        assert!(zpl.starts_with("^XA") && zpl.trim_end().ends_with("^XZ"));
        assert_eq!(zpl.matches("^XZ").count(), 1, "a ^ in the address cannot end the label");
        assert!(zpl.contains("^FDSF123^FS") && zpl.contains("^FD(00)106141411234567897^FS"));
        assert!(zpl.contains("^A0N,110,110^FD021^FS"), "the destination code is printed large");
    }
}
