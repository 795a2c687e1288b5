//! A fixed scanner on its TCP line: each code gets OK or a precise ERR on the same connection;
//! garbage and overlong lines are refused and the line keeps working.

use crate::helpers::*;
use anyhow::{Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_scanner_gets_ok_or_a_precise_error_for_every_line() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let central = Central::start(dir.path())?;
    let extra = "[[scanners]]\nname = \"pack-1\"\nstation = \"PACK-1\"\nlisten = \"127.0.0.1:0\"";
    let config = edge_config_full(dir.path(), "SH-01", central.base_url(), None, extra)?;
    let edge = Edge::from_daemon(Daemon::spawn(Kind::Edge, config)?, "SH-01");
    let scanners = edge.get("/api/v1/scanners").await?.ok()?;
    let listen = scanners[0]["listen"].as_str().context("listen")?.to_owned();
    assert_eq!(scanners[0]["station"], "PACK-1");

    let socket = TcpStream::connect(&listen).await?;
    let (read, mut write) = socket.into_split();
    let mut replies = BufReader::new(read).lines();
    let long = "9".repeat(600);
    let lines: Vec<(Vec<u8>, &str)> = vec![
        (format!("]C1010{PEGASUS_GTIN}10LOT-7\u{1d}17271231\r\n").into_bytes(), "OK GS1 GTIN 01958661377384, lot LOT-7, expires 2027-12-31"),
        (b"hello world\r\n".to_vec(), "ERR not a barcode Tote knows: \"hello world\""),
        (b"]C10101958661377385\r\n".to_vec(), "ERR AI (01): the check digit does not match"),
        (format!("{long}\r\n").into_bytes(), "ERR line longer than 512 characters"),
        (vec![0xff, 0xfe, b'\r', b'\n'], "ERR not UTF-8 text"),
        (b"A-03-2\n".to_vec(), "OK location A-03-2"),
    ];
    for (line, expected) in &lines {
        write.write_all(line).await?;
        let reply = tokio::time::timeout(std::time::Duration::from_secs(5), replies.next_line()).await??.context("line closed")?;
        assert_eq!(reply, *expected);
    }
    let recent = edge.get("/api/v1/scanners").await?.ok()?[0]["recent"].clone();
    let oks: Vec<bool> = recent.as_array().context("recent")?.iter().map(|r| r["ok"] == true).collect();
    assert_eq!(oks, [true, false, false, false, false, true], "newest first");
    assert_eq!(edge.get("/health").await?.ok()?["status"], "ok");
    Ok(())
}
