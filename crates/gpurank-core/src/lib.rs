//! gpurank's core, compiled to WebAssembly. Pure computation, no I/O and no GPU:
//! the TypeScript side reads files and drives the GPU.

pub mod tokenize;
pub mod plan;
pub mod ranking;
pub mod fusion;
pub mod metrics;
