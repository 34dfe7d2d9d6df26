#!/bin/bash
# Waits for the data volume to be attached, then formats it only if it is blank.
# EBS volumes show up as /dev/xvdf on Xen instances and as an NVMe disk whose by-id name carries the
# volume id on Nitro instances: https://docs.aws.amazon.com/ebs/latest/userguide/nvme-ebs-volumes.html
set -euo pipefail
volume_id="${BERTH_DATA_VOLUME_ID:?BERTH_DATA_VOLUME_ID is not set}"
candidates=("/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${volume_id//-/}" /dev/xvdf /dev/sdf)
for _ in $(seq 1 300); do
  for dev in "${candidates[@]}"; do
    if [ -b "$dev" ]; then
      # blkid exits 2 only when it finds nothing; any other failure (e.g. 8, ambivalent signatures) is not "blank".
      if blkid -p "$dev" >/dev/null 2>&1 || [ "$?" -ne 2 ]; then
        echo "data volume $dev already has a filesystem; keeping it"
        e2label "$dev" berth-data 2>/dev/null || true
      else
        echo "data volume $dev is blank; formatting"
        mkfs.ext4 -q -L berth-data "$dev"
      fi
      udevadm settle
      exit 0
    fi
  done
  sleep 2
done
echo "data volume ${volume_id} never appeared" >&2
exit 1
