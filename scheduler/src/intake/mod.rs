//! What a submission passes before it is decoded: [`scan`] walks the
//! encoded request as it arrives, [`stream_scan`] does so for each message
//! of a `SubmitJobs` stream ([`stream_body`] carries it out), and [`guard`]
//! applies them to the body of every `SubmitJob` and `SubmitJobs` call, so
//! a request over the limits is refused while it is still bytes on the
//! wire, with memory for neither its tasks nor, past the point of refusal,
//! its bytes. On a stream the refusal is the job's own; the stream goes on.

pub mod guard;
pub mod scan;
pub mod stream_body;
pub mod stream_scan;
