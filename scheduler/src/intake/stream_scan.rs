//! The pre-decoding scan of a `SubmitJobs` request stream, one message at
//! a time: each gRPC-framed `SubmitJobsRequest` is held until it is whole
//! and its `job` has passed the same [`SubmitScan`] as a unary `SubmitJob`
//! (size, tasks, ids to skip, constraints). A message that breaks a limit
//! is not passed on: the rest of its bytes are skipped as they arrive (its
//! length is in its frame header, so the stream's framing survives) and it
//! is replaced by a [`Piece::Refused`] naming its `call_id` and the limit,
//! so the job gets its own refusal and the stream goes on.
//!
//! Memory: a message passed on is held once, up to `--max-message-bytes`
//! (what tonic would buffer to decode it anyway); a refused one is not held.
//! Pure: no I/O, no clock.

use bytes::{Bytes, BytesMut};

use super::scan::{FrameHeader, Refusal, ScanLimits, SubmitScan, Varint, FRAME_HEADER_BYTES};

/// Field numbers of `SubmitJobsRequest`.
const REQUEST_CALL_ID: u64 = 1;
const REQUEST_JOB: u64 = 2;

/// What the scan hands on, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// A whole message (its frame header included) that passed the scan.
    Message(Bytes),
    /// A message refused before decoding: its `call_id` (0 if it had none
    /// before the refusal was decided) and why.
    Refused {
        /// The call id the message carried.
        call_id: u64,
        /// The field and the limit it broke.
        refusal: Refusal,
    },
}

/// Where the scan is within the current message.
#[derive(Debug, Clone, Copy)]
enum State {
    /// Reading the 5-byte frame header.
    Header(FrameHeader),
    /// Reading a field key of the `SubmitJobsRequest`.
    Key(Varint),
    /// Reading the `call_id`.
    CallId(Varint),
    /// Reading (and ignoring) another varint.
    OtherVarint(Varint),
    /// Reading the length of a length-delimited field.
    Length { field: u64, varint: Varint },
    /// Reading this many bytes of the `job` (fed to the job's scan).
    Job(u64),
    /// Skipping this many bytes of a value (or of a refused job).
    Skip(u64),
    /// A compressed message: passed on unscanned (the server accepts no
    /// compression, so tonic refuses it before decoding).
    Opaque,
}

/// The scan of one `SubmitJobs` request stream; feed it every chunk in order.
#[derive(Debug)]
pub struct StreamScan {
    limits: ScanLimits,
    state: State,
    /// Bytes of the current message not yet read.
    message_left: u64,
    /// The current message as far as read, while it may still pass.
    held: BytesMut,
    call_id: u64,
    /// The scan of the current message's job.
    job_scan: SubmitScan,
    /// Why the current message is refused, once it is.
    refusal_opt: Option<Refusal>,
}

impl StreamScan {
    /// A scan expecting the first frame header.
    pub fn new(limits: ScanLimits) -> Self {
        Self {
            limits,
            state: State::Header(FrameHeader::new()),
            message_left: 0,
            held: BytesMut::new(),
            call_id: 0,
            job_scan: SubmitScan::new(limits),
            refusal_opt: None,
        }
    }

    /// Reads the next chunk; every message or refusal it completes is
    /// appended to `out`.
    pub fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<Piece>) {
        while !chunk.is_empty() {
            let used = self.step(chunk);
            if self.refusal_opt.is_none() {
                self.held.extend_from_slice(&chunk[..used]);
            }
            chunk = &chunk[used..];
            if self.message_left == 0 && !matches!(self.state, State::Header(_)) {
                self.finish_message(out);
            }
        }
    }

    /// Hands on the message just read, or its refusal, and expects the next.
    fn finish_message(&mut self, out: &mut Vec<Piece>) {
        let clean_end = match self.state {
            State::Key(varint) => varint.is_empty(),
            State::Opaque => true,
            _ => false,
        };
        if !clean_end {
            self.malformed("the message ends inside a field");
        }
        match self.refusal_opt.take() {
            Some(refusal) => out.push(Piece::Refused { call_id: self.call_id, refusal }),
            None => out.push(Piece::Message(self.held.split().freeze())),
        }
        self.held.clear();
        self.state = State::Header(FrameHeader::new());
    }

    /// Consumes a prefix of `chunk` (at least one byte); returns its length.
    fn step(&mut self, chunk: &[u8]) -> usize {
        match self.state {
            State::Header(mut header) => {
                let (take, whole_opt) = header.fill(chunk);
                self.state = State::Header(header);
                if let Some(bytes) = whole_opt {
                    self.start_message(bytes);
                }
                take
            }
            State::Opaque | State::Skip(_) | State::Job(_) => self.step_bulk(chunk),
            State::Key(varint) | State::CallId(varint) | State::OtherVarint(varint) | State::Length { varint, .. } => {
                self.step_varint(varint, chunk[0]);
                1
            }
        }
    }

    fn start_message(&mut self, header: [u8; FRAME_HEADER_BYTES]) {
        let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
        self.message_left = u64::from(length);
        self.call_id = 0;
        self.refusal_opt = None;
        if length as usize > self.limits.max_message_bytes {
            self.refuse(Refusal {
                field: "job".into(),
                problem: format!(
                    "is {length} bytes, more than the limit of {} (--max-message-bytes); refused before decoding, \
                     the stream goes on",
                    self.limits.max_message_bytes
                ),
            });
        }
        self.state = if header[0] != 0 { State::Opaque } else { State::Key(Varint::new()) };
    }

    /// Skips, passes or feeds to the job's scan as many bytes as the state allows.
    fn step_bulk(&mut self, chunk: &[u8]) -> usize {
        let (mut remaining, in_job) = match self.state {
            State::Job(remaining) => (remaining, true),
            State::Skip(remaining) => (remaining, false),
            _ => (self.message_left, false),
        };
        if remaining > self.message_left {
            self.malformed("a field runs past the end of the message");
            remaining = self.message_left;
        }
        let take = remaining.min(chunk.len() as u64);
        if in_job && self.refusal_opt.is_none() {
            if let Err(refusal) = self.job_scan.feed(&chunk[..take as usize]) {
                self.refuse(refusal);
            }
        }
        self.message_left -= take;
        let left = remaining - take;
        self.state = match self.state {
            State::Opaque => State::Opaque,
            _ if left > 0 => {
                if in_job {
                    State::Job(left)
                } else {
                    State::Skip(left)
                }
            }
            _ => State::Key(Varint::new()),
        };
        take as usize
    }

    fn step_varint(&mut self, mut varint: Varint, byte: u8) {
        self.message_left -= 1;
        let Ok(pushed) = varint.push(byte) else {
            self.malformed("a varint is longer than 10 bytes");
            return;
        };
        self.state = match (self.state, pushed) {
            (State::Key(_), None) => State::Key(varint),
            (State::CallId(_), None) => State::CallId(varint),
            (State::OtherVarint(_), None) => State::OtherVarint(varint),
            (State::Length { field, .. }, None) => State::Length { field, varint },
            (State::Key(_), Some(key)) => self.on_key(key),
            (State::CallId(_), Some(call_id)) => {
                self.call_id = call_id;
                State::Key(Varint::new())
            }
            (State::Length { field, .. }, Some(length)) => self.on_length(field, length),
            (_, Some(_)) => State::Key(Varint::new()),
            (other, None) => other,
        };
    }

    fn on_key(&mut self, key: u64) -> State {
        let field = key >> 3;
        match (field, key & 7) {
            (REQUEST_CALL_ID, 0) => State::CallId(Varint::new()),
            (_, 0) => State::OtherVarint(Varint::new()),
            (_, 1) => State::Skip(8),
            (_, 2) => State::Length { field, varint: Varint::new() },
            (_, 5) => State::Skip(4),
            (_, wire_type) => {
                self.malformed(&format!("field {field} has wire type {wire_type}, which passer never sends"));
                State::Skip(self.message_left)
            }
        }
    }

    fn on_length(&mut self, field: u64, length: u64) -> State {
        if length > self.message_left {
            self.malformed(&format!("field {field} says {length} bytes, more than are left"));
            return State::Skip(self.message_left);
        }
        if field != REQUEST_JOB || self.refusal_opt.is_some() {
            return State::Skip(length);
        }
        self.job_scan = SubmitScan::new(self.limits);
        // The job is scanned as the request of a `SubmitJob` call would be.
        let mut header = [0u8; FRAME_HEADER_BYTES];
        header[1..].copy_from_slice(&(length as u32).to_be_bytes());
        if let Err(refusal) = self.job_scan.feed(&header) {
            self.refuse(refusal);
        }
        if length == 0 {
            return State::Key(Varint::new());
        }
        State::Job(length)
    }

    /// The current message is refused (the first reason stands); its
    /// bytes held so far are dropped.
    fn refuse(&mut self, refusal: Refusal) {
        if self.refusal_opt.is_none() {
            self.refusal_opt = Some(refusal);
            self.held = BytesMut::new();
        }
    }

    fn malformed(&mut self, what: &str) {
        self.refuse(Refusal {
            field: "request".into(),
            problem: format!("is not a well-formed SubmitJobsRequest: {what}"),
        });
    }
}

#[cfg(test)]
#[path = "stream_scan_tests.rs"]
mod tests;
