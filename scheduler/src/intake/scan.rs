//! An incremental scan of a gRPC-framed `SubmitJobRequest` as its bytes
//! arrive, before anything is decoded: it reads the frame header and walks
//! the protobuf fields of the request and of each task (keys, lengths,
//! skipped values) without allocating, counting the repeated fields that
//! would each become an allocation when decoded. A request over a limit is
//! refused at the first byte that proves it, so a 61 MiB submission of
//! 5,000,000 tiny tasks costs the scan of its first 100,001 tasks, not the
//! ~900 MB that decoding it would take. Pure: no I/O, no clock.

/// What the scan enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanLimits {
    /// Largest encoded request (`--max-message-bytes`).
    pub max_message_bytes: usize,
    /// Most `tasks` (`--max-tasks-per-job`); also the most `skip_task_ids`.
    pub max_tasks_per_job: usize,
    /// Most `constraints` on the job and on each task.
    pub max_constraints: usize,
}

/// Why a request is refused before decoding: the field, and what is wrong
/// with it (the limit and the figure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The field, such as `tasks` or `tasks[7].constraints`.
    pub field: String,
    /// What is wrong, naming the limit.
    pub problem: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

/// Field numbers of `SubmitJobRequest` and `TaskSpec` the scan counts.
const REQUEST_TASKS: u64 = 4;
const REQUEST_SKIP_TASK_IDS: u64 = 5;
const REQUEST_CONSTRAINTS: u64 = 6;
const TASK_CONSTRAINTS: u64 = 4;

/// Length of a gRPC message header: a compression flag and a big-endian length.
pub(super) const FRAME_HEADER_BYTES: usize = 5;

/// A gRPC frame header read across chunks.
#[derive(Debug, Clone, Copy)]
pub(super) struct FrameHeader {
    bytes: [u8; FRAME_HEADER_BYTES],
    filled: usize,
}

impl FrameHeader {
    pub(super) const fn new() -> Self {
        Self { bytes: [0; FRAME_HEADER_BYTES], filled: 0 }
    }

    /// Takes what it still lacks from the front of `chunk`: the bytes
    /// used and, once whole, the header.
    pub(super) fn fill(&mut self, chunk: &[u8]) -> (usize, Option<[u8; FRAME_HEADER_BYTES]>) {
        let take = (FRAME_HEADER_BYTES - self.filled).min(chunk.len());
        self.bytes[self.filled..self.filled + take].copy_from_slice(&chunk[..take]);
        self.filled += take;
        (take, (self.filled == FRAME_HEADER_BYTES).then_some(self.bytes))
    }
}

/// A protobuf varint read one byte at a time.
#[derive(Debug, Clone, Copy)]
pub(super) struct Varint {
    value: u64,
    shift: u32,
}

impl Varint {
    pub(super) const fn new() -> Self {
        Self { value: 0, shift: 0 }
    }

    /// Whether no byte of it was read yet.
    pub(super) fn is_empty(&self) -> bool {
        self.shift == 0
    }

    /// Adds one byte; `Ok(Some(value))` once the varint is complete.
    pub(super) fn push(&mut self, byte: u8) -> Result<Option<u64>, ()> {
        if self.shift >= 64 {
            return Err(());
        }
        self.value |= u64::from(byte & 0x7f) << self.shift;
        self.shift += 7;
        Ok((byte & 0x80 == 0).then_some(self.value))
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Reading the 5-byte frame header.
    Header(FrameHeader),
    /// Reading a field key.
    Key(Varint),
    /// Reading the length of a length-delimited field.
    Length { field: u64, varint: Varint },
    /// Reading (and ignoring) a varint value.
    VarintValue(Varint),
    /// Skipping this many bytes of a value.
    Skip(u64),
    /// A compressed message: not scanned (the server accepts none, so tonic
    /// refuses it before decoding).
    Opaque,
    /// Refused; nothing more is read.
    Refused,
}

/// The scan of one request stream; feed it every chunk in order.
#[derive(Debug, Clone)]
pub struct SubmitScan {
    limits: ScanLimits,
    state: State,
    /// Bytes of the current message not yet read.
    message_left: u64,
    /// Bytes of the task being read not yet read, when inside one.
    task_left_opt: Option<u64>,
    /// The encoded size of the current message.
    message_bytes: u64,
    tasks: usize,
    skip_task_ids: usize,
    job_constraints: usize,
    task_constraints: usize,
}

impl SubmitScan {
    /// A scan expecting the first frame header.
    pub fn new(limits: ScanLimits) -> Self {
        Self {
            limits,
            state: State::Header(FrameHeader::new()),
            message_left: 0,
            task_left_opt: None,
            message_bytes: 0,
            tasks: 0,
            skip_task_ids: 0,
            job_constraints: 0,
            task_constraints: 0,
        }
    }

    /// How many tasks the scan has seen so far.
    pub fn tasks_seen(&self) -> usize {
        self.tasks
    }

    /// Reads the next chunk of the request body; `Err` once it breaks a
    /// limit or is not a well-formed request (later chunks are then ignored).
    pub fn feed(&mut self, mut chunk: &[u8]) -> Result<(), Refusal> {
        while !chunk.is_empty() {
            match self.step(chunk) {
                Ok(used) => chunk = &chunk[used..],
                Err(refusal) => {
                    self.state = State::Refused;
                    return Err(refusal);
                }
            }
            if matches!(self.state, State::Opaque | State::Refused) {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Consumes a prefix of `chunk` (at least one byte); returns its length.
    fn step(&mut self, chunk: &[u8]) -> Result<usize, Refusal> {
        match self.state {
            State::Header(mut header) => {
                let (take, whole_opt) = header.fill(chunk);
                self.state = State::Header(header);
                if let Some(bytes) = whole_opt {
                    self.start_message(bytes)?;
                }
                Ok(take)
            }
            State::Key(mut varint) => {
                self.consume(1)?;
                match varint.push(chunk[0]).map_err(|()| malformed("a field key is longer than 10 bytes"))? {
                    Some(key) => self.on_key(key)?,
                    None => self.state = State::Key(varint),
                }
                Ok(1)
            }
            State::Length { field, mut varint } => {
                self.consume(1)?;
                match varint.push(chunk[0]).map_err(|()| malformed("a length is longer than 10 bytes"))? {
                    Some(length) => self.on_length(field, length)?,
                    None => self.state = State::Length { field, varint },
                }
                Ok(1)
            }
            State::VarintValue(mut varint) => {
                self.consume(1)?;
                match varint.push(chunk[0]).map_err(|()| malformed("a varint is longer than 10 bytes"))? {
                    Some(_) => self.field_done(),
                    None => self.state = State::VarintValue(varint),
                }
                Ok(1)
            }
            State::Skip(remaining) => {
                let take = remaining.min(chunk.len() as u64);
                self.consume(take)?;
                if take == remaining {
                    self.field_done();
                } else {
                    self.state = State::Skip(remaining - take);
                }
                Ok(take as usize)
            }
            State::Opaque | State::Refused => Ok(chunk.len()),
        }
    }

    fn start_message(&mut self, header: [u8; FRAME_HEADER_BYTES]) -> Result<(), Refusal> {
        let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
        if length as usize > self.limits.max_message_bytes {
            return Err(Refusal {
                field: "request".into(),
                problem: format!(
                    "is {length} bytes, more than the limit of {} (--max-message-bytes)",
                    self.limits.max_message_bytes
                ),
            });
        }
        if header[0] != 0 {
            self.state = State::Opaque;
            return Ok(());
        }
        self.message_left = u64::from(length);
        self.message_bytes = u64::from(length);
        self.task_left_opt = None;
        self.next_field_or_header();
        Ok(())
    }

    /// Counts `bytes` read against the message and the current task.
    fn consume(&mut self, bytes: u64) -> Result<(), Refusal> {
        if bytes > self.message_left {
            return Err(malformed("a field runs past the end of the message"));
        }
        self.message_left -= bytes;
        if let Some(task_left) = self.task_left_opt.as_mut() {
            if bytes > *task_left {
                return Err(malformed("a field runs past the end of its task"));
            }
            *task_left -= bytes;
        }
        Ok(())
    }

    fn on_key(&mut self, key: u64) -> Result<(), Refusal> {
        let field = key >> 3;
        if field == 0 {
            return Err(malformed("field number 0"));
        }
        self.state = match key & 7 {
            0 => State::VarintValue(Varint::new()),
            1 => State::Skip(8),
            2 => State::Length { field, varint: Varint::new() },
            5 => State::Skip(4),
            _ => return Err(malformed(&format!("field {field} has wire type {}, which passer never sends", key & 7))),
        };
        Ok(())
    }

    fn on_length(&mut self, field: u64, length: u64) -> Result<(), Refusal> {
        let limit = self.task_left_opt.unwrap_or(self.message_left);
        if length > limit {
            return Err(malformed(&format!("field {field} says {length} bytes, more than are left")));
        }
        match self.task_left_opt {
            Some(_) => {
                if field == TASK_CONSTRAINTS {
                    self.task_constraints += 1;
                    if self.task_constraints > self.limits.max_constraints {
                        let index = self.tasks - 1;
                        return Err(over(&format!("tasks[{index}].constraints"), self.limits.max_constraints, "items"));
                    }
                }
            }
            None => self.count_request_field(field)?,
        }
        if self.task_left_opt.is_none() && field == REQUEST_TASKS {
            self.task_left_opt = Some(length);
            self.task_constraints = 0;
            self.next_field_or_header();
        } else {
            self.state = State::Skip(length);
            if length == 0 {
                self.field_done();
            }
        }
        Ok(())
    }

    fn count_request_field(&mut self, field: u64) -> Result<(), Refusal> {
        let (count, limit, name, which) = match field {
            REQUEST_TASKS => (&mut self.tasks, self.limits.max_tasks_per_job, "tasks", "per job (--max-tasks-per-job)"),
            REQUEST_SKIP_TASK_IDS => (
                &mut self.skip_task_ids,
                self.limits.max_tasks_per_job,
                "skip_task_ids",
                "per job (--max-tasks-per-job)",
            ),
            REQUEST_CONSTRAINTS => (&mut self.job_constraints, self.limits.max_constraints, "constraints", "items"),
            _ => return Ok(()),
        };
        *count += 1;
        if *count > limit {
            let problem = format!(
                "more than the limit of {limit} {which}: {count} seen in the first {} of {} bytes, \
                 refused before decoding",
                self.message_bytes - self.message_left,
                self.message_bytes
            );
            return Err(Refusal { field: name.into(), problem });
        }
        Ok(())
    }

    /// After a whole field: leaves a finished task, then reads the next key
    /// (or the next frame header at the end of the message).
    fn field_done(&mut self) {
        if self.task_left_opt == Some(0) {
            self.task_left_opt = None;
        }
        self.next_field_or_header();
    }

    fn next_field_or_header(&mut self) {
        if self.task_left_opt == Some(0) {
            self.task_left_opt = None;
        }
        self.state = if self.message_left == 0 { State::Header(FrameHeader::new()) } else { State::Key(Varint::new()) };
    }
}

fn malformed(what: &str) -> Refusal {
    Refusal { field: "request".into(), problem: format!("is not a well-formed SubmitJobRequest: {what}") }
}

fn over(field: &str, limit: usize, unit: &str) -> Refusal {
    Refusal { field: field.into(), problem: format!("more than the limit of {limit} {unit}, refused before decoding") }
}

#[cfg(test)]
#[path = "scan_tests.rs"]
mod tests;
