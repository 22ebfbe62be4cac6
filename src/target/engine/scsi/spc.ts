/**
 * The primary commands (SPC-4) a block device answers from what it knows, without storage:
 * INQUIRY (standard data and the VPD pages 00h, 80h, 83h, B0h, B1h, B2h), MODE SENSE(6)/(10)
 * (caching, control and informational exceptions pages), REPORT LUNS and REQUEST SENSE. Each
 * returns the whole data; the caller cuts it to the ALLOCATION LENGTH.
 */
import { fitAllocationLength } from "../../../core/scsi/allocation.js";
import { PeripheralDeviceType, PeripheralQualifier, buildInquiryData } from "../../../core/scsi/inquiry.js";
import { ALL_SUBPAGES, ModePageCode, PageControl, encodeCachingPage, encodeControlPage, encodeInformationalExceptionsPage } from "../../../core/scsi/mode-pages.js";
import { buildModeSense10Data, buildModeSense6Data } from "../../../core/scsi/mode-sense.js";
import type { InquiryCdb, ModeSenseCdb, ReportLunsCdb, RequestSenseCdb } from "../../../core/scsi/parse-cdb.js";
import { buildReportLunsData } from "../../../core/scsi/report-luns.js";
import { buildSense } from "../../../core/scsi/sense.js";
import {
  VpdPage,
  buildBlockDeviceCharacteristicsPage,
  buildBlockLimitsPage,
  buildLogicalBlockProvisioningPage,
  buildSupportedVpdPages,
  buildUnitSerialNumberPage,
} from "../../../core/scsi/vpd.js";
import { Association, ProtocolIdentifier, buildDeviceIdentificationPage } from "../../../core/scsi/vpd-device-id.js";
import type { ResolvedTarget } from "../config.js";
import type { ScsiResult } from "./port.js";
import { type SenseCode, Sense, checkCondition, good, invalidFieldInCdb } from "./results.js";
import type { LogicalUnit, UnitLimits } from "./logical-unit.js";

/** SPC-4 version descriptors: SAM-5, iSCSI, SPC-4, SBC-3 (the standards we answer to). */
const VERSION_DESCRIPTORS = [0x00a0, 0x0960, 0x0460, 0x04c0];

// ---------------------------------------------------------------- INQUIRY

export function inquiry(cdb: InquiryCdb, target: ResolvedTarget, unit: LogicalUnit | undefined, limits: UnitLimits | undefined): ScsiResult {
  if (unit === undefined) {
    // SPC-4: no logical unit here. Standard data says so with PERIPHERAL QUALIFIER 011b; VPD
    // pages have nothing to describe.
    if (cdb.evpd) return checkCondition(Sense.LogicalUnitNotSupported);
    const data = buildInquiryData({
      peripheralQualifier: PeripheralQualifier.NotSupported,
      peripheralDeviceType: PeripheralDeviceType.Unknown,
      vendor: "ISCSI-TS",
      product: "NO LUN",
      revision: "0001",
    });
    return good(fitAllocationLength(data, cdb.allocationLength));
  }
  const def = unit.def;
  if (!cdb.evpd) {
    const data = buildInquiryData({
      peripheralQualifier: PeripheralQualifier.Connected,
      peripheralDeviceType: PeripheralDeviceType.DirectAccess,
      vendor: def.vendor,
      product: def.product,
      revision: def.revision,
      versionDescriptors: VERSION_DESCRIPTORS,
    });
    return good(fitAllocationLength(data, cdb.allocationLength));
  }
  const page = vpdPage(cdb.page, target, unit, limits as UnitLimits);
  if (page === undefined) return invalidFieldInCdb(2);
  return good(fitAllocationLength(page, cdb.allocationLength));
}

const SUPPORTED_VPD = [
  VpdPage.SupportedPages,
  VpdPage.UnitSerialNumber,
  VpdPage.DeviceIdentification,
  VpdPage.BlockLimits,
  VpdPage.BlockDeviceCharacteristics,
  VpdPage.LogicalBlockProvisioning,
];

function vpdPage(page: number, target: ResolvedTarget, unit: LogicalUnit, limits: UnitLimits): Uint8Array | undefined {
  const def = unit.def;
  switch (page) {
    case VpdPage.SupportedPages:
      return buildSupportedVpdPages(SUPPORTED_VPD);
    case VpdPage.UnitSerialNumber:
      return buildUnitSerialNumberPage(def.serial);
    case VpdPage.DeviceIdentification:
      return buildDeviceIdentificationPage([
        // SPC-4: at least one logical unit designator of type NAA, EUI-64 or SCSI name string.
        { association: Association.LogicalUnit, value: { kind: "naa", hex: def.naa } },
        { association: Association.LogicalUnit, value: { kind: "t10-vendor-id", vendorId: def.vendor, vendorSpecific: def.serial } },
        // RFC 7143 §10.2 (and SPC-4 for iSCSI): the target port is "<name>,t,0x<tpgt>".
        {
          association: Association.TargetPort,
          protocolIdentifier: ProtocolIdentifier.Iscsi,
          piv: true,
          value: { kind: "scsi-name-string", name: `${target.iqn},t,0x0001` },
        },
        { association: Association.TargetPort, protocolIdentifier: ProtocolIdentifier.Iscsi, piv: true, value: { kind: "relative-target-port", port: 1 } },
        { association: Association.TargetDevice, protocolIdentifier: ProtocolIdentifier.Iscsi, piv: true, value: { kind: "scsi-name-string", name: target.iqn } },
      ]);
    case VpdPage.BlockLimits: {
      const thin = def.thinProvisioned;
      return buildBlockLimitsPage({
        // WRITE SAME with NUMBER OF LOGICAL BLOCKS 0 ("to the end") is refused.
        wsnz: true,
        maximumCompareAndWriteLength: limits.maxCompareAndWriteBlocks,
        optimalTransferLengthGranularity: Math.max(1, Math.floor(4096 / def.blockSize)),
        maximumTransferLength: Math.floor(limits.maxTransferBytes / def.blockSize),
        optimalTransferLength: Math.floor(Math.min(limits.maxTransferBytes, 1024 * 1024) / def.blockSize),
        maximumPrefetchLength: 0,
        maximumUnmapLbaCount: thin ? limits.maxUnmapBlocks : 0,
        maximumUnmapBlockDescriptorCount: thin ? limits.maxUnmapDescriptors : 0,
        optimalUnmapGranularity: thin ? 1 : 0,
        maximumWriteSameLength: limits.maxWriteSameBlocks,
      });
    }
    case VpdPage.BlockDeviceCharacteristics:
      // SBC-3: MEDIUM ROTATION RATE 1 is a non-rotating medium (memory and files alike).
      return buildBlockDeviceCharacteristicsPage({ mediumRotationRate: 1 });
    case VpdPage.LogicalBlockProvisioning: {
      const thin = def.thinProvisioned;
      return buildLogicalBlockProvisioningPage({
        lbpu: thin,
        lbpws: thin,
        lbpws10: thin,
        lbprz: thin && def.unmappedReadsZero ? 1 : 0,
        provisioningType: thin ? 2 : 0,
      });
    }
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------- MODE SENSE

export function modeSense(cdb: ModeSenseCdb, unit: LogicalUnit): ScsiResult {
  // We keep no saved pages (and have no MODE SELECT), so "saved values" cannot be reported.
  if (cdb.pageControl === PageControl.Saved) return checkCondition(Sense.SavingParametersNotSupported);
  const changeable = cdb.pageControl === PageControl.Changeable;
  const def = unit.def;
  const caching = (): Uint8Array => encodeCachingPage(changeable ? {} : { wce: def.writeCache });
  // TAS=1: tasks aborted by another initiator's task management end with TASK ABORTED status;
  // QUEUE ALGORITHM MODIFIER 1: SIMPLE tasks may be reordered.
  const control = (): Uint8Array => encodeControlPage(changeable ? {} : { tas: true, queueAlgorithmModifier: 1 });
  const exceptions = (): Uint8Array => encodeInformationalExceptionsPage({});
  let pages: Uint8Array[];
  if (cdb.page === ModePageCode.AllPages) {
    if (cdb.subpage !== 0 && cdb.subpage !== ALL_SUBPAGES) return invalidFieldInCdb(3);
    pages = [caching(), control(), exceptions()];
  } else {
    if (cdb.subpage !== 0) return invalidFieldInCdb(3);
    switch (cdb.page) {
      case ModePageCode.Caching:
        pages = [caching()];
        break;
      case ModePageCode.Control:
        pages = [control()];
        break;
      case ModePageCode.InformationalExceptionsControl:
        pages = [exceptions()];
        break;
      default:
        return invalidFieldInCdb(2, 5);
    }
  }
  const blocks = cdb.dbd ? [] : [{ blocks: def.blocks, blockLength: def.blockSize }];
  const input = { writeProtect: def.readOnly, dpoFua: true, blockDescriptors: blocks, pages };
  const data = cdb.variant === 6 ? buildModeSense6Data(input) : buildModeSense10Data({ ...input, longLba: cdb.llbaa && def.blocks > 0xffff_ffff });
  return good(fitAllocationLength(data, cdb.allocationLength));
}

// ---------------------------------------------------------------- REPORT LUNS, REQUEST SENSE

export function reportLuns(cdb: ReportLunsCdb, target: ResolvedTarget): ScsiResult {
  // SPC-4 REPORT LUNS: SELECT REPORT 00h-02h are defined; fewer than 16 bytes cannot be asked.
  if (cdb.selectReport > 2) return invalidFieldInCdb(2);
  if (cdb.allocationLength < 16) return invalidFieldInCdb(6);
  const luns = target.luns.map((l) => l.lun).sort((a, b) => a - b);
  // SELECT REPORT 01h lists well known logical units only: we have none.
  const data = buildReportLunsData(cdb.selectReport === 1 ? [] : luns);
  return good(fitAllocationLength(data, cdb.allocationLength));
}

/**
 * SPC-4 REQUEST SENSE: with autosense (iSCSI always delivers sense with CHECK CONDITION) there is
 * nothing pending but unit attention, which `pending` carries (and the caller then clears).
 */
export function requestSense(cdb: RequestSenseCdb, pending: SenseCode | undefined): ScsiResult {
  const code = pending ?? Sense.NoSense;
  const data = buildSense({ key: code.key, asc: code.asc, ascq: code.ascq }, cdb.descriptor ? "descriptor" : "fixed");
  return good(fitAllocationLength(data, cdb.allocationLength));
}
