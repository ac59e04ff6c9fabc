//! A real S3-compatible server for the tests, in-process on loopback: s3s over s3s-fs,
//! with signature checking on, behind a thin wrapper that answers like S3 where s3s-fs
//! (which keeps keys as files and directories) does not.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use hyper_util::rt::TokioIo;
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result, S3};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Credentials the server accepts.
pub const ACCESS_KEY: &str = "results-test-key";
/// Credentials the server accepts.
pub const SECRET_KEY: &str = "results-test-secret";

/// A running server; stopped when dropped.
pub struct S3Server {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where s3s-fs keeps buckets (one directory each) and its upload state.
    pub root: PathBuf,
    task: JoinHandle<()>,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl S3Server {
    /// Starts a server on 127.0.0.1:0 keeping its data under `root`, with `bucket` created.
    pub async fn start(root: &Path, bucket: &str) -> S3Server {
        // s3s-fs keeps a bucket as a directory under its root.
        std::fs::create_dir_all(root.join(bucket)).unwrap();
        let fs = s3s_fs::FileSystem::new(root).unwrap();
        let mut builder = s3s::service::S3ServiceBuilder::new(S3Like {
            root: root.canonicalize().unwrap(),
            inner: fs,
        });
        builder.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            // Aborting this task drops the set, which closes every connection too.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                while connections.try_join_next().is_some() {}
                let _ = socket.set_nodelay(true);
                let service = service.clone();
                connections.spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        S3Server {
            addr,
            root: root.canonicalize().unwrap(),
            task,
        }
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Files of multipart uploads and temporary writes the server still keeps: none once
    /// every upload was completed or aborted.
    pub fn upload_leftovers(&self) -> Vec<String> {
        std::fs::read_dir(&self.root)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(".upload") || name.starts_with(".tmp."))
            .collect()
    }
}

/// s3s-fs, except that a key naming a directory (the parent of other keys) is absent, as
/// on S3, instead of an internal error.
struct S3Like {
    root: PathBuf,
    inner: s3s_fs::FileSystem,
}

impl S3Like {
    /// s3s-fs creates a missing bucket on a write; S3 refuses.
    fn bucket_exists(&self, bucket: &str) -> S3Result<()> {
        if self.root.join(bucket).is_dir() {
            Ok(())
        } else {
            Err(s3_error!(NoSuchBucket))
        }
    }

    fn is_dir(&self, bucket: &str, key: &str) -> bool {
        self.root.join(bucket).join(key).is_dir()
    }
}

#[async_trait::async_trait]
impl S3 for S3Like {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.inner.create_bucket(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.inner.head_bucket(req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.inner.list_objects_v2(req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        self.inner.upload_part(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.inner.complete_multipart_upload(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.inner.abort_multipart_upload(req).await
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        self.bucket_exists(&req.input.bucket)?;
        self.inner.put_object(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.bucket_exists(&req.input.bucket)?;
        self.inner.create_multipart_upload(req).await
    }

    async fn delete_objects(
        &self,
        mut req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        // Keys that are not files (directories, or under a file) are absent: deleted.
        let bucket = self.root.join(&req.input.bucket);
        let (present, absent): (Vec<_>, Vec<_>) = std::mem::take(&mut req.input.delete.objects)
            .into_iter()
            .partition(|object| bucket.join(&object.key).is_file());
        let mut deleted: Vec<DeletedObject> = absent
            .into_iter()
            .map(|object| DeletedObject {
                key: Some(object.key),
                ..Default::default()
            })
            .collect();
        if present.is_empty() {
            return Ok(S3Response::new(DeleteObjectsOutput {
                deleted: Some(deleted),
                ..Default::default()
            }));
        }
        req.input.delete.objects = present;
        let mut response = self.inner.delete_objects(req).await?;
        response
            .output
            .deleted
            .get_or_insert_with(Vec::new)
            .append(&mut deleted);
        Ok(response)
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        if self.is_dir(&req.input.bucket, &req.input.key) {
            return Err(s3_error!(NoSuchKey));
        }
        self.inner.head_object(req).await
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        if self.is_dir(&req.input.bucket, &req.input.key) {
            return Err(s3_error!(NoSuchKey));
        }
        self.inner.get_object(req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        if self.is_dir(&req.input.bucket, &req.input.key) {
            return Ok(S3Response::new(DeleteObjectOutput::default()));
        }
        self.inner.delete_object(req).await
    }
}
