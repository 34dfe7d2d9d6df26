#!/bin/bash
# Copies the dumps taken before each migration to the stack's S3 bucket, under dumps/. Run every 15
# minutes by berth-dumps-sync.timer: `aws s3 sync` uploads only what the bucket lacks or what changed,
# and never deletes there (the bucket's lifecycle expires old dumps). A dump still being written is
# named *.partial and left for the next run. A failure is one line in the journal at priority err
# (the <3> prefix: sd-daemon(3)) and a non-zero exit; the timer fires again all the same.
set -uo pipefail

bucket="${BERTH_DUMP_BUCKET:?BERTH_DUMP_BUCKET is not set}"
region="${BERTH_AWS_REGION:?BERTH_AWS_REGION is not set}"
image="${BERTH_AWS_CLI_IMAGE:?BERTH_AWS_CLI_IMAGE is not set}"
dir="${BERTH_DUMPS_DIR:?BERTH_DUMPS_DIR is not set}"

if ! mountpoint -q /opt/data; then
  echo "<3>berth-dumps-sync: /opt/data is not a mount point (is the data volume attached and mounted?): nothing copied" >&2
  exit 1
fi
if [[ ! -d "$dir" ]]; then
  echo "berth-dumps-sync: no dump yet ($dir does not exist): nothing to copy"
  exit 0
fi

# The CLI runs in its own container on the host's network (IMDSv2 for the instance role's credentials),
# with the dumps mounted read-only at the same path; its output is kept here in the journal.
out="$(docker run --rm --network host --log-driver none -v "$dir:$dir:ro" "$image" \
  s3 sync "$dir" "s3://$bucket/dumps/" --region "$region" --exclude "*.partial" --no-progress 2>&1)"
rc=$?
if ((rc != 0)); then
  echo "<3>berth-dumps-sync: aws s3 sync $dir s3://$bucket/dumps/ failed (exit $rc): ${out//$'\n'/ }" >&2
  exit 1
fi
echo "berth-dumps-sync: s3://$bucket/dumps/ holds every dump in $dir${out:+ (${out//$'\n'/; })}"
