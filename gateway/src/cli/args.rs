//! Command-line arguments: `wrangler vectorize`'s sub-commands and flags, plus where the Strato
//! services are.
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub const DEFAULT_INDEX_URL: &str = "http://127.0.0.1:50052";
pub const DEFAULT_EMBEDDER_URL: &str = "http://127.0.0.1:50051";

/// Manage Strato's Vectorize indexes, as `wrangler vectorize` does (talks gRPC to index-svc;
/// sends `STRATO_SERVICE_TOKEN`, when set, as the services' token).
#[derive(Debug, Parser)]
#[command(name = "strato-vectorize", version)]
pub struct Cli {
    /// index-svc gRPC address.
    #[arg(long, global = true, env = "STRATO_INDEX_URL", default_value = DEFAULT_INDEX_URL)]
    pub index_url: String,
    /// embedder-svc gRPC address (asked for a preset's dimensions).
    #[arg(long, global = true, env = "STRATO_EMBEDDER_URL", default_value = DEFAULT_EMBEDDER_URL)]
    pub embedder_url: String,
    /// Account the indexes live in (empty = the stack's default account).
    #[arg(long, global = true, env = "STRATO_ACCOUNT")]
    pub account: Option<String>,
    /// Deadline of every call, in seconds.
    #[arg(long, global = true, env = "STRATO_TIMEOUT", default_value_t = 30, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Return output as clean JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a Vectorize index.
    Create(CreateArgs),
    /// Delete a Vectorize index.
    Delete(DeleteArgs),
    /// Get a Vectorize index by name.
    Get(NameArgs),
    /// List your Vectorize indexes.
    List,
    /// Get additional details about the index (vector count, last processed mutation).
    Info(NameArgs),
    /// Insert vectors into a Vectorize index (existing ids are kept).
    Insert(InsertArgs),
    /// Upsert vectors into a Vectorize index (existing ids are replaced).
    Upsert(UpsertArgs),
    /// Query a Vectorize index.
    Query(QueryArgs),
    /// Get vectors from a Vectorize index by id.
    GetVectors(IdsArgs),
    /// Delete vectors in a Vectorize index by id.
    DeleteVectors(IdsArgs),
    /// List vector identifiers in a Vectorize index.
    ListVectors(ListVectorsArgs),
    /// Enable metadata filtering on the specified property.
    CreateMetadataIndex(CreateMetadataIndexArgs),
    /// List metadata properties on which metadata filtering is enabled.
    ListMetadataIndex(NameArgs),
    /// Delete metadata indexes.
    DeleteMetadataIndex(DeleteMetadataIndexArgs),
    /// Back up every index of one index-svc (a consistent copy taken while it serves) into a new
    /// directory. (Strato's own; wrangler has no such command.)
    Backup(BackupArgs),
    /// Check a backup and copy it into a fresh data directory for index-svc (offline).
    Restore(RestoreArgs),
    /// After resizing the index StatefulSet: move every index to the pod that owns it under the
    /// new pod list (dry run unless --apply).
    Rebalance(RebalanceArgs),
    /// Copy a Vectorize index from Cloudflare (its config, metadata indexes and every vector)
    /// into Strato; resumable, verified at the end. (Strato's own.)
    Import(ImportArgs),
    /// Write every vector of an index as NDJSON that `wrangler vectorize insert` accepts.
    /// (Strato's own.)
    Export(ExportArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The Strato index to fill (created with the source's config when absent).
    pub name: String,
    /// The Cloudflare account id that holds the source index.
    #[arg(long, env = "CLOUDFLARE_ACCOUNT_ID")]
    pub from_account: String,
    /// The Vectorize index to copy (default: the same name).
    #[arg(long)]
    pub from_index: Option<String>,
    /// Cloudflare's API base URL (a Strato gateway's `http://HOST:PORT/client/v4` works too).
    #[arg(long, env = "CLOUDFLARE_API_BASE_URL", default_value = "https://api.cloudflare.com/client/v4")]
    pub from_url: String,
    /// An API token that may read the index (Vectorize Read).
    #[arg(long, env = "CLOUDFLARE_API_TOKEN", hide_env_values = true)]
    pub from_token: Option<String>,
    /// Where progress is recorded (default `NAME.import.json`); a rerun resumes from it.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Ids per get_by_ids call to the source.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub get_batch: u32,
    /// Attempts per source call before giving up (the checkpoint keeps what was done).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub retries: u32,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The index to export.
    pub name: String,
    /// The NDJSON file to write (`-`: standard output).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct RebalanceArgs {
    /// Every index-svc pod after the resize, as the gateway's --index will list them.
    #[arg(long, value_delimiter = ',', required = true)]
    pub pods: Vec<String>,
    /// Pods about to be removed: everything on them moves.
    #[arg(long, value_delimiter = ',')]
    pub retiring: Vec<String>,
    /// Move the indexes (without it: print the plan).
    #[arg(long)]
    pub apply: bool,
    /// Delete the old copies of moved indexes (after every gateway routes by the new list).
    #[arg(long, conflicts_with = "apply")]
    pub forget: bool,
    /// Abandon unfinished moves: thaw frozen indexes, delete incoming copies.
    #[arg(long, conflicts_with_all = ["apply", "forget"])]
    pub abort: bool,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Directory to write the backup to; must not exist or be empty.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A directory `backup` wrote.
    #[arg(long)]
    pub from: PathBuf,
    /// The new data directory (index-svc --data-dir); must not exist or be empty.
    #[arg(long)]
    pub to: PathBuf,
}

#[derive(Debug, Args)]
pub struct NameArgs {
    /// The name of the Vectorize index.
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MetricArg {
    Euclidean,
    Cosine,
    DotProduct,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The name of the Vectorize index to create (must be unique).
    pub name: String,
    /// The dimension size to configure this index for, based on the output dimensions of your ML model.
    #[arg(long)]
    pub dimensions: Option<u32>,
    /// The distance metric to use for searching within the index.
    #[arg(long, value_enum)]
    pub metric: Option<MetricArg>,
    /// The name of a preset representing an embeddings model: dimensions and metric follow from it.
    #[arg(long, conflicts_with_all = ["dimensions", "metric"])]
    pub preset: Option<String>,
    /// An optional description for this index.
    #[arg(long)]
    pub description: Option<String>,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The name of the Vectorize index.
    pub name: String,
    /// Skip confirmation.
    #[arg(long, short = 'y')]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct InsertArgs {
    /// The name of the Vectorize index.
    pub name: String,
    /// A file containing line separated json (ndjson) vector objects.
    #[arg(long)]
    pub file: PathBuf,
    /// Number of vector records to include in one write.
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,
}

#[derive(Debug, Args)]
pub struct UpsertArgs {
    /// The name of the Vectorize index.
    pub name: String,
    /// A file containing line separated json (ndjson) vector objects.
    #[arg(long)]
    pub file: PathBuf,
    /// Number of vector records to include in one write.
    #[arg(long, default_value_t = 5000)]
    pub batch_size: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReturnMetadataArg {
    All,
    Indexed,
    None,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The name of the Vectorize index.
    pub name: String,
    /// Vector to query the Vectorize index with.
    #[arg(long, num_args = 1.., allow_negative_numbers = true, value_name = "N")]
    pub vector: Option<Vec<f32>>,
    /// Identifier for a vector in the index against which the index should be queried.
    #[arg(long)]
    pub vector_id: Option<String>,
    /// The number of results (nearest neighbors) to return.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub top_k: u32,
    /// Specify if the vector values should be included in the results.
    #[arg(long)]
    pub return_values: bool,
    /// Specify if the vector metadata should be included in the results.
    #[arg(long, value_enum, default_value_t = ReturnMetadataArg::None)]
    pub return_metadata: ReturnMetadataArg,
    /// Filter the query results based on this namespace.
    #[arg(long)]
    pub namespace: Option<String>,
    /// Filter the query results based on this metadata filter (a JSON object).
    #[arg(long)]
    pub filter: Option<String>,
}

#[derive(Debug, Args)]
pub struct IdsArgs {
    /// The name of the Vectorize index.
    pub name: String,
    /// Vector identifiers.
    #[arg(long, num_args = 1.., required = true)]
    pub ids: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ListVectorsArgs {
    /// The name of the Vectorize index.
    pub name: String,
    /// Maximum number of vectors to return (1-1000).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub count: Option<u32>,
    /// Cursor for pagination to get the next page of results.
    #[arg(long)]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MetadataTypeArg {
    String,
    Number,
    Boolean,
}

#[derive(Debug, Args)]
pub struct CreateMetadataIndexArgs {
    /// The name of the Vectorize index.
    pub name: String,
    /// The name of the metadata property to index.
    #[arg(long = "property-name", visible_alias = "propertyName")]
    pub property_name: String,
    /// The type of metadata property to index.
    #[arg(long = "type", value_enum, ignore_case = true)]
    pub index_type: MetadataTypeArg,
}

#[derive(Debug, Args)]
pub struct DeleteMetadataIndexArgs {
    /// The name of the Vectorize index.
    pub name: String,
    /// The name of the metadata property whose index to delete.
    #[arg(long = "property-name", visible_alias = "propertyName")]
    pub property_name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("strato-vectorize").chain(args.iter().copied()))
    }

    #[test]
    fn parses_wrangler_style_flags() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let cli = parse(&["query", "idx", "--vector", "1", "-2.5", "3", "--top-k", "3"]).expect("query");
        let Command::Query(q) = cli.command else { panic!("not query") };
        assert_eq!(q.vector, Some(vec![1.0, -2.5, 3.0]));
        assert_eq!(q.top_k, 3);
        let cli = parse(&["create-metadata-index", "idx", "--propertyName", "p", "--type", "String"]).expect("cmi");
        let Command::CreateMetadataIndex(a) = cli.command else { panic!("not create-metadata-index") };
        assert_eq!(a.property_name, "p");
        assert_eq!(a.index_type, MetadataTypeArg::String);
        let cli = parse(&["delete", "idx", "-y", "--json"]).expect("delete");
        assert!(cli.json);
        assert!(matches!(cli.command, Command::Delete(DeleteArgs { force: true, .. })));
        let cli = parse(&["create", "idx", "--metric", "dot-product", "--dimensions", "32"]).expect("create");
        assert!(matches!(cli.command, Command::Create(CreateArgs { metric: Some(MetricArg::DotProduct), .. })));
        assert!(parse(&["create", "idx", "--preset", "x", "--dimensions", "32"]).is_err());
    }
}
