//! "Download the case": one ZIP of an event's signed JSON (every phase, byte for byte
//! as the outbox holds and sends it) and its evidence files, for a technician or an
//! operator who needs the case off the box without the platform.
//!
//! The archive is written while it is sent: files are read in small chunks by one
//! thread and handed to the client through a bounded channel, so a 100 MB case never
//! sits in memory and a slow phone holds at most a few chunks. Entries are stored
//! (JPEG and MP4 do not compress), with sizes and CRC in data descriptors after each
//! file, so nothing has to be read twice. The total is bounded ([`MAX_CASE_BYTES`])
//! so every offset fits the classic (non-ZIP64) format.

use axum::body::{Body, Bytes, HttpBody};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Largest case served as one archive; bigger cases are downloaded file by file.
pub const MAX_CASE_BYTES: u64 = 1024 * 1024 * 1024;
/// Bytes per chunk sent to the client.
const CHUNK: usize = 64 * 1024;
/// Chunks written ahead of the client.
const AHEAD: usize = 4;

/// What one archive entry holds.
#[derive(Debug, Clone)]
pub enum Source {
    Bytes(Vec<u8>),
    /// A file the outbox recorded (never a path from a request).
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Entry {
    /// Name inside the archive (made by the server: `media/snapshot-1.jpg`).
    pub name: String,
    pub source: Source,
}

/// DOS date and time of `t` (local wall clock of the box), for the entry headers.
fn dos_time(t: chrono::NaiveDateTime) -> (u16, u16) {
    use chrono::{Datelike, Timelike};
    let year = (t.year().clamp(1980, 2107) - 1980) as u16;
    let date = (year << 9) | ((t.month() as u16) << 5) | t.day() as u16;
    let time = ((t.hour() as u16) << 11) | ((t.minute() as u16) << 5) | (t.second() as u16 / 2);
    (date, time)
}

/// Counts the bytes that pass through (entry offsets).
struct Tally<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Tally<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Write `entries` as a stored ZIP archive to `out`.
pub fn write_zip<W: Write>(
    out: W,
    entries: &[Entry],
    at: chrono::NaiveDateTime,
) -> std::io::Result<()> {
    let mut out = Tally {
        inner: out,
        written: 0,
    };
    let (date, time) = dos_time(at);
    let mut central = Vec::new();
    let count = u16::try_from(entries.len())
        .map_err(|_| std::io::Error::other("too many entries for one archive"))?;
    for e in entries {
        let offset = u32::try_from(out.written)
            .map_err(|_| std::io::Error::other("archive larger than 4 GiB"))?;
        let name = e.name.as_bytes();
        // Bit 3: sizes and CRC follow the data; bit 11: the name is UTF-8.
        let flags: u16 = 0x0808;
        let mut h = Vec::with_capacity(30 + name.len());
        h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        h.extend_from_slice(&20u16.to_le_bytes());
        h.extend_from_slice(&flags.to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes()); // stored
        h.extend_from_slice(&time.to_le_bytes());
        h.extend_from_slice(&date.to_le_bytes());
        h.extend_from_slice(&[0; 12]); // CRC and sizes: in the descriptor
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes());
        h.extend_from_slice(name);
        out.write_all(&h)?;
        let mut crc = crc32fast::Hasher::new();
        let mut size: u64 = 0;
        match &e.source {
            Source::Bytes(b) => {
                crc.update(b);
                out.write_all(b)?;
                size = b.len() as u64;
            }
            Source::File(p) => {
                let mut f = std::fs::File::open(p)?;
                let mut buf = vec![0u8; CHUNK];
                loop {
                    let n = f.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    crc.update(&buf[..n]);
                    out.write_all(&buf[..n])?;
                    size += n as u64;
                    if out.written > MAX_CASE_BYTES {
                        return Err(std::io::Error::other("the case grew past its bound"));
                    }
                }
            }
        }
        let crc = crc.finalize();
        let size32 =
            u32::try_from(size).map_err(|_| std::io::Error::other("a file larger than 4 GiB"))?;
        let mut d = Vec::with_capacity(16);
        d.extend_from_slice(&0x0807_4b50u32.to_le_bytes());
        d.extend_from_slice(&crc.to_le_bytes());
        d.extend_from_slice(&size32.to_le_bytes());
        d.extend_from_slice(&size32.to_le_bytes());
        out.write_all(&d)?;
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&((3u16 << 8) | 20).to_le_bytes()); // made on Unix
        central.extend_from_slice(&20u16.to_le_bytes());
        central.extend_from_slice(&flags.to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&time.to_le_bytes());
        central.extend_from_slice(&date.to_le_bytes());
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&size32.to_le_bytes());
        central.extend_from_slice(&size32.to_le_bytes());
        central.extend_from_slice(&(name.len() as u16).to_le_bytes());
        central.extend_from_slice(&[0; 8]); // extra, comment, disk, internal attrs
        central.extend_from_slice(&(0o100_644u32 << 16).to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name);
    }
    let cd_offset = u32::try_from(out.written)
        .map_err(|_| std::io::Error::other("archive larger than 4 GiB"))?;
    out.write_all(&central)?;
    let mut end = Vec::with_capacity(22);
    end.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    end.extend_from_slice(&[0; 4]);
    end.extend_from_slice(&count.to_le_bytes());
    end.extend_from_slice(&count.to_le_bytes());
    end.extend_from_slice(&(central.len() as u32).to_le_bytes());
    end.extend_from_slice(&cd_offset.to_le_bytes());
    end.extend_from_slice(&0u16.to_le_bytes());
    out.write_all(&end)?;
    out.flush()
}

/// Writes into the channel in [`CHUNK`]-sized pieces; fails once the client is gone.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(Ok(Bytes::from(chunk)))
            .map_err(|_| std::io::Error::other("the client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// A response body that is the archive of `entries`, written by its own thread.
pub fn body(entries: Vec<Entry>, at: chrono::NaiveDateTime) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel(AHEAD);
    let err_tx = tx.clone();
    // A plain thread, not the async runtime's blocking pool, which a slow client would
    // hold for as long as it takes; it ends when the client goes away.
    let spawned = std::thread::Builder::new()
        .name("web-case".into())
        .spawn(move || {
            let w = ChannelWriter {
                tx,
                buf: Vec::with_capacity(CHUNK),
            };
            if let Err(e) = write_zip(w, &entries, at) {
                tracing::debug!(error = %e, "web: case archive not completed");
                // The client sees a broken transfer, not a short archive that looks whole.
                let _ = err_tx.blocking_send(Err(e));
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "web: cannot start a case archive thread");
    }
    Body::new(ChannelBody { rx })
}

struct ChannelBody {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
}

impl HttpBody for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(b))) => Poll::Ready(Some(Ok(http_body::Frame::data(b)))),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads a stored archive back with the central directory, checking every CRC.
    fn entries_of(zip: &[u8]) -> Vec<(String, Vec<u8>)> {
        let end = zip.len() - 22;
        assert_eq!(&zip[end..end + 4], &0x0605_4b50u32.to_le_bytes());
        let count = u16::from_le_bytes([zip[end + 10], zip[end + 11]]) as usize;
        let mut at = u32::from_le_bytes(zip[end + 16..end + 20].try_into().unwrap()) as usize;
        let mut out = Vec::new();
        for _ in 0..count {
            let c = &zip[at..];
            assert_eq!(&c[..4], &0x0201_4b50u32.to_le_bytes());
            let crc = u32::from_le_bytes(c[16..20].try_into().unwrap());
            let size = u32::from_le_bytes(c[24..28].try_into().unwrap()) as usize;
            let name_len = u16::from_le_bytes([c[28], c[29]]) as usize;
            let local = u32::from_le_bytes(c[42..46].try_into().unwrap()) as usize;
            let name = String::from_utf8(c[46..46 + name_len].to_vec()).unwrap();
            let l = &zip[local..];
            assert_eq!(&l[..4], &0x0403_4b50u32.to_le_bytes());
            let lname = u16::from_le_bytes([l[26], l[27]]) as usize;
            let data = l[30 + lname..30 + lname + size].to_vec();
            assert_eq!(crc32fast::hash(&data), crc, "{name}");
            out.push((name, data));
            at += 46 + name_len;
        }
        out
    }

    #[test]
    fn a_stored_archive_holds_every_entry_with_its_crc() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("clip.mp4");
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&file, &big).unwrap();
        let entries = vec![
            Entry {
                name: "event-0-started.json".into(),
                source: Source::Bytes(b"{\"id\":\"x\"}".to_vec()),
            },
            Entry {
                name: "media/clip.mp4".into(),
                source: Source::File(file),
            },
        ];
        let mut zip = Vec::new();
        let at = chrono::NaiveDate::from_ymd_opt(2026, 11, 21)
            .unwrap()
            .and_hms_opt(8, 0, 0)
            .unwrap();
        write_zip(&mut zip, &entries, at).unwrap();
        let got = entries_of(&zip);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, "event-0-started.json");
        assert_eq!(got[0].1, b"{\"id\":\"x\"}");
        assert_eq!(got[1].0, "media/clip.mp4");
        assert_eq!(got[1].1, big);
    }

    #[test]
    fn a_missing_file_fails_the_archive_instead_of_leaving_it_short() {
        let entries = vec![Entry {
            name: "media/gone.jpg".into(),
            source: Source::File("/nonexistent/gone.jpg".into()),
        }];
        let mut zip = Vec::new();
        let at = chrono::NaiveDateTime::default();
        assert!(write_zip(&mut zip, &entries, at).is_err());
    }
}
