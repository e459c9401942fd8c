//! Corpus formats: LDA-C, raw text, the 20 Newsgroups layout, word2vec embeddings.

pub mod embeddings;
pub mod ldac;
pub mod newsgroups;
pub mod stopwords;
pub mod text;
