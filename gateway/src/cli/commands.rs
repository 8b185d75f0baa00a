//! The sub-commands: one function each, printing wrangler's texts (or clean JSON with `--json`).
use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use crate::shapes::*;
use serde_json::Value;
use strato_proto::index::v1 as pb;

use super::args::{
    Cli, Command, CreateArgs, CreateMetadataIndexArgs, DeleteArgs, DeleteMetadataIndexArgs, IdsArgs, ListVectorsArgs,
    MetadataTypeArg, MetricArg, NameArgs, QueryArgs, ReturnMetadataArg,
};
use super::client::{self, IndexClient, ModelLookupError};
use super::ndjson;
use super::render::{Progress, out, out_json, table, warn};

/// wrangler refuses larger batches; so do we.
pub const MAX_BATCH_SIZE: usize = 5000;

struct Ctx {
    index_url: String,
    embedder_url: String,
    account: String,
    timeout: Duration,
    json: bool,
}

impl Ctx {
    async fn index(&self) -> Result<IndexClient> {
        IndexClient::connect(&self.index_url, &self.account, self.timeout).await
    }

    /// A status line wrangler prints before the result (not in `--json` mode).
    fn banner(&self, line: &str) {
        if !self.json {
            out(line);
        }
    }
}

/// Runs one parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    let ctx = Ctx {
        index_url: client::normalise_url(&cli.index_url),
        embedder_url: client::normalise_url(&cli.embedder_url),
        account: cli.account.unwrap_or_default(),
        timeout: Duration::from_secs(cli.timeout),
        json: cli.json,
    };
    match cli.command {
        Command::Create(a) => create(&ctx, a).await,
        Command::Delete(a) => delete(&ctx, a).await,
        Command::Get(a) => get(&ctx, a).await,
        Command::List => list(&ctx).await,
        Command::Info(a) => info(&ctx, a).await,
        Command::Insert(a) => write(&ctx, WriteMode::Insert, &a.name, &a.file, a.batch_size).await,
        Command::Upsert(a) => write(&ctx, WriteMode::Upsert, &a.name, &a.file, a.batch_size).await,
        Command::Query(a) => query(&ctx, a).await,
        Command::GetVectors(a) => get_vectors(&ctx, a).await,
        Command::DeleteVectors(a) => delete_vectors(&ctx, a).await,
        Command::ListVectors(a) => list_vectors(&ctx, a).await,
        Command::CreateMetadataIndex(a) => create_metadata_index(&ctx, a).await,
        Command::ListMetadataIndex(a) => list_metadata_index(&ctx, a).await,
        Command::DeleteMetadataIndex(a) => delete_metadata_index(&ctx, a).await,
        Command::Backup(a) => super::backup::backup(&mut ctx.index().await?, &a.out, ctx.json).await,
        Command::Restore(a) => super::backup::restore(&a.from, &a.to, ctx.json),
        Command::Rebalance(a) => super::rebalance::rebalance(&a.pods, &a.retiring, rebalance_mode(&a), ctx.json, ctx.timeout).await,
        Command::Import(a) => super::import::import(&mut ctx.index().await?, a, ctx.json, ctx.timeout).await,
        Command::Export(a) => super::import::export(&mut ctx.index().await?, a, ctx.json).await,
    }
}

fn rebalance_mode(a: &super::args::RebalanceArgs) -> super::rebalance::Mode {
    use super::rebalance::Mode;
    match (a.apply, a.forget, a.abort) {
        (true, ..) => Mode::Apply,
        (_, true, _) => Mode::Forget,
        (.., true) => Mode::Abort,
        _ => Mode::Plan,
    }
}

fn index_table(indexes: &[IndexJson]) -> String {
    let rows: Vec<Vec<String>> = indexes
        .iter()
        .map(|i| {
            vec![
                i.name.clone(),
                i.config.dimensions.to_string(),
                i.config.metric.to_owned(),
                i.description.clone(),
                i.created_on.clone(),
                i.modified_on.clone(),
            ]
        })
        .collect();
    table(&["name", "dimensions", "metric", "description", "created", "modified"], &rows)
}

fn vector_json(v: pb::Vector) -> VectorJson {
    VectorJson::from(v)
}

// ---------------------------------------------------------------------------------------------
// Index lifecycle

async fn create(ctx: &Ctx, a: CreateArgs) -> Result<()> {
    let (dimensions, metric) = match (&a.preset, a.dimensions, a.metric) {
        (Some(preset), _, _) => {
            let dims = preset_dimensions(ctx, preset).await?;
            ctx.banner(&format!("Configuring index based on the embedding model {preset} ({dims} dimensions, cosine)."));
            (dims, pb::Metric::Cosine)
        }
        (None, Some(dims), Some(metric)) => {
            let metric = match metric {
                MetricArg::Cosine => pb::Metric::Cosine,
                MetricArg::Euclidean => pb::Metric::Euclidean,
                MetricArg::DotProduct => pb::Metric::DotProduct,
            };
            (dims, metric)
        }
        _ => bail!("You must provide both dimensions and a metric, or a known model preset when creating an index."),
    };
    let mut index = ctx.index().await?;
    ctx.banner(&format!("🚧 Creating index: '{}'", a.name));
    let req = pb::CreateIndexRequest {
        account: index.account(),
        name: a.name.clone(),
        dimensions,
        metric: metric as i32,
        description: a.description.unwrap_or_default(),
    };
    let info = index.create_index(req).await?;
    if ctx.json {
        return out_json(&IndexJson::from(info));
    }
    out(&format!("✅ Successfully created a new Vectorize index: '{}'", info.name));
    Ok(())
}

/// A preset's dimensions: embedder-svc's word first, the built-in Vectorize table when it cannot answer.
async fn preset_dimensions(ctx: &Ctx, preset: &str) -> Result<u32> {
    let offline = crate::shapes::preset_dimensions(preset);
    let known = || PRESETS.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ");
    let url = &ctx.embedder_url;
    match client::model_dimensions(url, preset, ctx.timeout).await {
        Ok(dims) if dims > 0 => Ok(dims),
        Ok(_) => offline.ok_or_else(|| anyhow!("embedder-svc at {url} reports no dimensions for '{preset}'")),
        Err(ModelLookupError::NotFound(msg)) => match offline {
            Some(dims) => {
                warn(&format!(
                    "embedder-svc at {url} does not serve '{preset}' ({msg}); using the built-in preset table: {dims} dimensions"
                ));
                Ok(dims)
            }
            None => bail!("Unknown model preset '{preset}': embedder-svc at {url} does not know it ({msg}) and it is not one of {}", known()),
        },
        Err(ModelLookupError::Unreachable(msg)) => match offline {
            Some(dims) => {
                warn(&format!(
                    "embedder-svc is unreachable ({msg}); using the built-in preset table: '{preset}' has {dims} dimensions"
                ));
                Ok(dims)
            }
            None => bail!("Unknown model preset '{preset}' (not one of {}), and embedder-svc could not be asked: {msg}", known()),
        },
    }
}

async fn delete(ctx: &Ctx, a: DeleteArgs) -> Result<()> {
    ctx.banner(&format!("Deleting Vectorize index {}", a.name));
    if !a.force {
        if !std::io::stdin().is_terminal() {
            bail!(
                "Refusing to delete index '{}' without confirmation: stdin is not a terminal. Pass --force (-y) to delete without asking.",
                a.name
            );
        }
        if !confirm(&format!("OK to delete the index '{}'?", a.name))? {
            if ctx.json {
                return out_json(&serde_json::json!({ "name": a.name, "deleted": false }));
            }
            out("Deletion cancelled.");
            return Ok(());
        }
    }
    let mut index = ctx.index().await?;
    let r = index.index_ref(&a.name);
    index.delete_index(r).await?;
    if ctx.json {
        return out_json(&serde_json::json!({ "name": a.name, "deleted": true }));
    }
    out(&format!("✅ Deleted index {}", a.name));
    Ok(())
}

/// Asks on stderr, reads the answer from stdin; anything but y/yes is a no.
fn confirm(question: &str) -> Result<bool> {
    {
        let mut stderr = std::io::stderr().lock();
        write!(stderr, "{question} (y/N) ")?;
        stderr.flush()?;
    }
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    let answer = answer.trim().to_ascii_lowercase();
    Ok(answer == "y" || answer == "yes")
}

async fn get(ctx: &Ctx, a: NameArgs) -> Result<()> {
    let mut index = ctx.index().await?;
    let r = index.index_ref(&a.name);
    let info = IndexJson::from(index.get_index(r).await?);
    if ctx.json {
        return out_json(&info);
    }
    out(&index_table(std::slice::from_ref(&info)));
    Ok(())
}

async fn list(ctx: &Ctx) -> Result<()> {
    let mut index = ctx.index().await?;
    ctx.banner("📋 Listing Vectorize indexes...");
    let req = pb::ListIndexesRequest { account: index.account(), all_accounts: false, include_moved: false };
    let resp = index.list_indexes(req).await?;
    let indexes: Vec<IndexJson> = resp.indexes.into_iter().map(IndexJson::from).collect();
    if ctx.json {
        return out_json(&indexes);
    }
    if indexes.is_empty() {
        warn("You haven't created any indexes on this account. Use 'strato-vectorize create <name>' to create one.");
        return Ok(());
    }
    out(&index_table(&indexes));
    Ok(())
}

async fn info(ctx: &Ctx, a: NameArgs) -> Result<()> {
    let mut index = ctx.index().await?;
    ctx.banner("📋 Fetching index info...");
    let r = index.index_ref(&a.name);
    let info = InfoJson::from(index.describe_index(r).await?);
    if ctx.json {
        return out_json(&info);
    }
    let row = vec![
        info.dimensions.to_string(),
        info.vector_count.to_string(),
        info.processed_up_to_mutation.unwrap_or_default(),
        info.processed_up_to_datetime.unwrap_or_default(),
    ];
    out(&table(&["dimensions", "vectorCount", "processedUpToMutation", "processedUpToDatetime"], &[row]));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Vectors

#[derive(Clone, Copy, PartialEq, Eq)]
enum WriteMode {
    Insert,
    Upsert,
}

impl WriteMode {
    fn noun(self) -> &'static str {
        match self {
            WriteMode::Insert => "insertion",
            WriteMode::Upsert => "upsertion",
        }
    }
}

async fn write(ctx: &Ctx, mode: WriteMode, name: &str, file: &std::path::Path, batch_size: usize) -> Result<()> {
    if batch_size == 0 {
        bail!("--batch-size must be at least 1.");
    }
    if batch_size > MAX_BATCH_SIZE {
        bail!(
            "The global rate limit for the Cloudflare API is 1200 requests per five minutes. Vectorize V2 indexes currently limit upload batches to {MAX_BATCH_SIZE} records at a time to stay within the service limits."
        );
    }
    // Everything is parsed and checked before the first write: a bad line sends nothing.
    let records = ndjson::read_file(file)?;
    let mut index = ctx.index().await?;
    let r = index.index_ref(name);
    let dims = index.get_index(r).await?.dimensions as usize;
    for rec in &records {
        let got = rec.vector.values.len();
        if got != dims {
            bail!(
                "invalid NDJSON in {}: line {}: invalid vector for id=\"{}\", expected {dims} dimensions, and got {got} dimensions; nothing was sent",
                file.display(),
                rec.line,
                rec.vector.id
            );
        }
    }
    let total = records.len();
    let batches = total.div_ceil(batch_size);
    let mut progress = Progress::new(total, "vectors");
    progress.set(0);
    let mut sent = 0usize;
    let mut vectors = records.into_iter().map(|r| r.vector);
    for batch_no in 1..=batches {
        let batch: Vec<pb::Vector> = vectors.by_ref().take(batch_size).collect();
        let n = batch.len();
        let req = pb::WriteRequest { account: index.account(), index: name.to_owned(), vectors: batch };
        let result = match mode {
            WriteMode::Insert => index.insert(req).await,
            WriteMode::Upsert => index.upsert(req).await,
        };
        let resp = match result {
            Ok(resp) => resp,
            Err(e) if sent > 0 => {
                progress.clear();
                return Err(e.context(format!(
                    "batch {batch_no} of {batches} was rejected; the {sent} vectors of the earlier batches were written"
                )));
            }
            Err(e) => return Err(e),
        };
        sent += n;
        progress.clear();
        let line = format!(
            "✨ Enqueued {n} vectors into index '{name}' for {}. Mutation changeset identifier: {}",
            mode.noun(),
            resp.mutation_id
        );
        if ctx.json {
            eprintln!("{line}");
        } else {
            out(&line);
        }
        progress.set(sent);
    }
    progress.clear();
    if ctx.json {
        return out_json(&serde_json::json!({ "index": name, "count": sent }));
    }
    out(&format!("✅ Successfully enqueued {sent} vectors into index '{name}' for {}.", mode.noun()));
    Ok(())
}

async fn query(ctx: &Ctx, a: QueryArgs) -> Result<()> {
    let (vector, vector_id) = match (a.vector, a.vector_id) {
        (Some(v), None) if !v.is_empty() => (v, String::new()),
        (None, Some(id)) if !id.is_empty() => (Vec::new(), id),
        _ => bail!("Either vector or vector-id parameter must be provided, but not both."),
    };
    let filter = match &a.filter {
        None => None,
        Some(text) => {
            let value: Value =
                serde_json::from_str(text).map_err(|e| anyhow!("Invalid query filter: not valid JSON ({e})"))?;
            match ndjson::json_to_struct(&value) {
                Some(s) if !s.fields.is_empty() => Some(s),
                _ => bail!(
                    "Invalid query filter: expected a non-empty JSON object, e.g. '{{\"genre\": {{\"$eq\": \"drama\"}}}}'"
                ),
            }
        }
    };
    let return_metadata = match a.return_metadata {
        ReturnMetadataArg::All => pb::ReturnMetadata::All,
        ReturnMetadataArg::Indexed => pb::ReturnMetadata::Indexed,
        ReturnMetadataArg::None => pb::ReturnMetadata::None,
    };
    let mut index = ctx.index().await?;
    ctx.banner("📋 Searching for relevant vectors...");
    let req = pb::QueryRequest {
        account: index.account(),
        index: a.name.clone(),
        vector,
        vector_id,
        top_k: a.top_k,
        return_values: a.return_values,
        return_metadata: return_metadata as i32,
        filter,
        namespace: a.namespace.unwrap_or_default(),
    };
    let resp = index.query(req).await?;
    for w in &resp.warnings {
        warn(w);
    }
    let return_values = a.return_values;
    let matches: Vec<MatchJson> = resp.matches.into_iter().map(|m| MatchJson::new(m, return_values, true)).collect();
    let result = QueryJson { count: matches.len(), matches };
    if result.matches.is_empty() && !ctx.json {
        warn("Could not find any relevant vectors");
        return Ok(());
    }
    out_json(&result)
}

async fn get_vectors(ctx: &Ctx, a: IdsArgs) -> Result<()> {
    if a.ids.iter().all(String::is_empty) {
        bail!("Please provide valid vector identifiers.");
    }
    let mut index = ctx.index().await?;
    ctx.banner("📋 Fetching vectors...");
    let req = pb::IdsRequest { account: index.account(), index: a.name.clone(), ids: a.ids };
    let resp = index.get_by_ids(req).await?;
    let vectors: Vec<VectorJson> = resp.vectors.into_iter().map(vector_json).collect();
    if vectors.is_empty() && !ctx.json {
        warn("The index does not contain vectors corresponding to the provided identifiers");
        return Ok(());
    }
    out_json(&vectors)
}

async fn delete_vectors(ctx: &Ctx, a: IdsArgs) -> Result<()> {
    if a.ids.iter().all(String::is_empty) {
        bail!("Please provide valid vector identifiers for deletion.");
    }
    let mut index = ctx.index().await?;
    ctx.banner("📋 Deleting vectors...");
    let n = a.ids.len();
    let req = pb::IdsRequest { account: index.account(), index: a.name.clone(), ids: a.ids };
    let resp = index.delete_by_ids(req).await?;
    if ctx.json {
        return out_json(&serde_json::json!({ "mutationId": resp.mutation_id, "count": resp.count }));
    }
    out(&format!(
        "✅ Successfully enqueued {n} vectors into index '{}' for deletion. Mutation changeset identifier: {}.",
        a.name, resp.mutation_id
    ));
    Ok(())
}

async fn list_vectors(ctx: &Ctx, a: ListVectorsArgs) -> Result<()> {
    let mut index = ctx.index().await?;
    ctx.banner(&format!("📋 Listing vectors in index '{}'...", a.name));
    let req = pb::ListVectorsRequest {
        account: index.account(),
        index: a.name.clone(),
        count: a.count.unwrap_or(0),
        cursor: a.cursor.unwrap_or_default(),
    };
    let page = ListVectorsJson::from(index.list_vectors(req).await?);
    if ctx.json {
        return out_json(&page);
    }
    if page.vectors.is_empty() {
        warn("No vectors found in this index.");
        return Ok(());
    }
    let rows: Vec<Vec<String>> =
        page.vectors.iter().enumerate().map(|(i, v)| vec![(i + 1).to_string(), v.id.clone()]).collect();
    out(&table(&["#", "Vector ID"], &rows));
    out("");
    out(&format!("Showing {} of {} total vectors", page.count, page.total_count));
    if let Some(cursor) = &page.next_cursor {
        out("");
        out("💡 To get the next page, run:");
        out(&format!("   strato-vectorize list-vectors {} --cursor {cursor}", a.name));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Metadata indexes

async fn create_metadata_index(ctx: &Ctx, a: CreateMetadataIndexArgs) -> Result<()> {
    let index_type = match a.index_type {
        MetadataTypeArg::String => pb::MetadataType::String,
        MetadataTypeArg::Number => pb::MetadataType::Number,
        MetadataTypeArg::Boolean => pb::MetadataType::Boolean,
    };
    let mut index = ctx.index().await?;
    ctx.banner("📋 Creating metadata index...");
    let req = pb::MetadataIndexRequest {
        account: index.account(),
        index: a.name,
        property_name: a.property_name,
        index_type: index_type as i32,
    };
    let resp = index.create_metadata_index(req).await?;
    if ctx.json {
        return out_json(&MutationJson { mutation_id: resp.mutation_id });
    }
    out(&format!(
        "✅ Successfully enqueued metadata index creation request. Mutation changeset identifier: {}.",
        resp.mutation_id
    ));
    Ok(())
}

async fn list_metadata_index(ctx: &Ctx, a: NameArgs) -> Result<()> {
    let mut index = ctx.index().await?;
    ctx.banner("📋 Fetching metadata indexes...");
    let r = index.index_ref(&a.name);
    let resp = index.list_metadata_indexes(r).await?;
    let list = MetadataIndexesJson {
        metadata_indexes: resp
            .metadata_indexes
            .into_iter()
            .map(|m| MetadataIndexJson { property_name: m.property_name, index_type: metadata_type_name(m.index_type) })
            .collect(),
    };
    if ctx.json {
        return out_json(&list);
    }
    if list.metadata_indexes.is_empty() {
        warn(&format!(
            "You haven't created any metadata indexes on index '{}'. Use 'strato-vectorize create-metadata-index <name>' to create one.",
            a.name
        ));
        return Ok(());
    }
    let rows: Vec<Vec<String>> =
        list.metadata_indexes.iter().map(|m| vec![m.property_name.clone(), m.index_type.to_owned()]).collect();
    out(&table(&["propertyName", "type"], &rows));
    Ok(())
}

async fn delete_metadata_index(ctx: &Ctx, a: DeleteMetadataIndexArgs) -> Result<()> {
    let mut index = ctx.index().await?;
    ctx.banner("📋 Deleting metadata index...");
    let req = pb::MetadataIndexRequest {
        account: index.account(),
        index: a.name,
        property_name: a.property_name,
        index_type: pb::MetadataType::Unspecified as i32,
    };
    let resp = index.delete_metadata_index(req).await?;
    if ctx.json {
        return out_json(&MutationJson { mutation_id: resp.mutation_id });
    }
    out(&format!(
        "✅ Successfully enqueued metadata index deletion request. Mutation changeset identifier: {}.",
        resp.mutation_id
    ));
    Ok(())
}
