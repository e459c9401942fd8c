//! The few protobuf encodings TensorBoard's event files need, written by hand.

/// A protobuf message being built field by field.
#[derive(Default)]
pub(crate) struct Message(pub(crate) Vec<u8>);

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

impl Message {
    fn key(&mut self, field: u32, wire: u8) {
        varint(&mut self.0, ((field as u64) << 3) | wire as u64);
    }
    pub(crate) fn varint(mut self, field: u32, v: u64) -> Self {
        self.key(field, 0);
        varint(&mut self.0, v);
        self
    }
    pub(crate) fn double(mut self, field: u32, v: f64) -> Self {
        self.key(field, 1);
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub(crate) fn float(mut self, field: u32, v: f32) -> Self {
        self.key(field, 5);
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub(crate) fn bytes(mut self, field: u32, v: &[u8]) -> Self {
        self.key(field, 2);
        varint(&mut self.0, v.len() as u64);
        self.0.extend_from_slice(v);
        self
    }
    pub(crate) fn string(self, field: u32, v: &str) -> Self {
        self.bytes(field, v.as_bytes())
    }
    pub(crate) fn message(self, field: u32, m: Message) -> Self {
        self.bytes(field, &m.0)
    }
    pub(crate) fn packed_doubles(self, field: u32, vs: &[f64]) -> Self {
        let raw: Vec<u8> = vs.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.bytes(field, &raw)
    }
}

/// TFRecord framing: length, masked CRC32C of the length, payload, masked CRC32C of the payload.
pub(crate) fn tfrecord(payload: &[u8]) -> Vec<u8> {
    fn masked(data: &[u8]) -> u32 {
        let crc = crc32c::crc32c(data);
        (crc.rotate_right(15)).wrapping_add(0xa282_ead8)
    }
    let len = (payload.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(payload.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked(&len).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&masked(payload).to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_and_fields_encode_like_protoc() {
        // field 2, varint 300 -> 0x10 0xAC 0x02 (protobuf encoding guide's example value).
        assert_eq!(Message::default().varint(2, 300).0, vec![0x10, 0xAC, 0x02]);
        assert_eq!(
            Message::default().string(1, "hi").0,
            vec![0x0A, 2, b'h', b'i']
        );
    }
}
