//! Integration tests of the policy engine: policy.md §8 scenario table, properties, examples.
mod examples;
mod fixtures;
mod load;
mod perf;
mod props;
mod scenarios;
