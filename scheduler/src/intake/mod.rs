//! What a submission passes before it is decoded: [`scan`] walks the
//! encoded request as it arrives and [`guard`] applies it to the body of
//! every `SubmitJob` call, so a request over the limits is refused while it
//! is still bytes on the wire, with memory for neither its tasks nor, past
//! the point of refusal, its bytes.

pub mod guard;
pub mod scan;
