#!/bin/bash
# Publishes how full the root disk and the data volume are, for the disk alarms: CloudWatch namespace
# Berth, metric DiskUsedPercent, unit Percent, dimensions InstanceId and Path (/ or /opt/data).
# Run every 5 minutes by berth-disk-metrics.timer. Every failure is one line in the journal, at priority
# err (the <3> prefix: sd-daemon(3)), and a non-zero exit; the timer fires again all the same.
set -uo pipefail

region="${BERTH_AWS_REGION:?BERTH_AWS_REGION is not set}"
image="${BERTH_AWS_CLI_IMAGE:?BERTH_AWS_CLI_IMAGE is not set}"
imds=http://169.254.169.254/latest
failed=0

fail() {
  echo "<3>berth-disk-metrics: $*" >&2
  failed=1
}

# The instance id from IMDSv2: a session token (PUT), then the id with it. The host's own network
# namespace is one hop from the metadata service, within the instance's hop limit of 1 (containers on a
# bridge network are one hop further, and get no answer).
if ! token="$(curl -fsS --max-time 5 -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 60" "$imds/api/token" 2>&1)"; then
  fail "no IMDSv2 token from $imds/api/token (${token//$'\n'/ }): nothing published"
  exit 1
fi
if ! instance_id="$(curl -fsS --max-time 5 -H "X-aws-ec2-metadata-token: $token" "$imds/meta-data/instance-id" 2>&1)"; then
  fail "no instance id from IMDSv2 (${instance_id//$'\n'/ }): nothing published"
  exit 1
fi
if [[ ! "$instance_id" =~ ^i-[0-9a-f]{8,17}$ ]]; then
  fail "IMDSv2 answered an instance id that is not one: nothing published"
  exit 1
fi

data=()
published=()
for path in / /opt/data; do
  # Not mounted, /opt/data would measure the root disk under another name: report it instead.
  if ! mountpoint -q "$path"; then
    fail "$path is not a mount point (is the data volume attached and mounted?): not measured"
    continue
  fi
  if ! sizes="$(df --output=used,avail -B1 -- "$path" 2>&1 | tail -n 1)"; then
    fail "df $path failed: ${sizes//$'\n'/ }"
    continue
  fi
  read -r used avail <<<"$sizes"
  if [[ ! "$used" =~ ^[0-9]+$ || ! "$avail" =~ ^[0-9]+$ ]] || ((used + avail == 0)); then
    fail "df $path answered something else than sizes: $sizes"
    continue
  fi
  # df's Use% (used of what is usable: used + available), to a tenth, rounded.
  tenths=$(((used * 1000 + (used + avail) / 2) / (used + avail)))
  value="$((tenths / 10)).$((tenths % 10))"
  data+=("{\"MetricName\":\"DiskUsedPercent\",\"Unit\":\"Percent\",\"Value\":$value,\"Dimensions\":[{\"Name\":\"InstanceId\",\"Value\":\"$instance_id\"},{\"Name\":\"Path\",\"Value\":\"$path\"}]}")
  published+=("$path $value%")
done

if ((${#data[@]} > 0)); then
  metric_data="[$(IFS=,; echo "${data[*]}")]"
  # The CLI runs in its own container on the host's network (IMDSv2 for the instance role's credentials),
  # its output kept here in the journal rather than in a CloudWatch stream of its own.
  out="$(docker run --rm --network host --log-driver none "$image" \
    cloudwatch put-metric-data --region "$region" --namespace Berth --metric-data "$metric_data" 2>&1)"
  rc=$?
  if ((rc != 0)); then
    fail "aws cloudwatch put-metric-data failed (exit $rc): ${out//$'\n'/ }"
  else
    echo "berth-disk-metrics: published DiskUsedPercent for $instance_id: ${published[*]}"
  fi
fi
exit "$failed"
