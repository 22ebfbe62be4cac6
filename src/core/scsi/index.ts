/**
 * SCSI apart from iSCSI: CDB builders and the target-side CDB parser, response data parsers and
 * builders (INQUIRY, VPD, READ CAPACITY, REPORT LUNS, MODE SENSE, PERSISTENT RESERVE IN/OUT,
 * UNMAP), and sense data in both formats with its ASC/ASCQ texts.
 *
 * 64-bit values (LBAs, INFORMATION): builders take `number | bigint`; parsers return a `number`
 * below 2^53 and a `bigint` from there on (see wire.ts). Reservation keys are always `bigint`.
 * Parsers read only inside the bytes given and throw nothing but IscsiError subclasses:
 * RemoteProtocolError for malformed or too-short data; `truncated: true` where a device cut a
 * list short because of the allocation length. Builders throw LocalProtocolError for arguments
 * that do not fit their fields.
 */
export type { U64 } from "./wire.js";
export { U64_MAX } from "./wire.js";

export { ScsiOpcode, ServiceActionIn16, cdbLength, cdbLengthForOpcode, scsiCommandName, scsiOpcodeName } from "./opcodes.js";
export { ScsiStatus, SenseKey, scsiStatusName, senseKeyName } from "./status.js";

export type { ByteCheck, Rw10Options, Rw16Options } from "./cdb.js";
export {
  buildCompareAndWriteCdb,
  buildInquiryCdb,
  buildModeSense10Cdb,
  buildModeSense6Cdb,
  buildPersistentReserveInCdb,
  buildPersistentReserveOutCdb,
  buildPreventAllowMediumRemovalCdb,
  buildRead10Cdb,
  buildRead16Cdb,
  buildReadCapacity10Cdb,
  buildReadCapacity16Cdb,
  buildReportLunsCdb,
  buildRequestSenseCdb,
  buildStartStopUnitCdb,
  buildSynchronizeCache10Cdb,
  buildSynchronizeCache16Cdb,
  buildTestUnitReadyCdb,
  buildUnmapCdb,
  buildVerify10Cdb,
  buildVerify16Cdb,
  buildWrite10Cdb,
  buildWrite16Cdb,
  buildWriteSame10Cdb,
  buildWriteSame16Cdb,
} from "./cdb.js";

export type {
  CompareAndWriteCdb,
  InquiryCdb,
  InvalidCdb,
  ModeSenseCdb,
  ParsedCdb,
  PersistentReserveInCdb,
  PersistentReserveOutCdb,
  PreventAllowMediumRemovalCdb,
  ReadCapacity10Cdb,
  ReadCapacity16Cdb,
  ReadCdb,
  ReportLunsCdb,
  RequestSenseCdb,
  StartStopUnitCdb,
  SynchronizeCacheCdb,
  TestUnitReadyCdb,
  UnknownCdb,
  UnmapCdb,
  VerifyCdb,
  WriteCdb,
  WriteSameCdb,
} from "./parse-cdb.js";
export { parseCdb } from "./parse-cdb.js";

export { fitAllocationLength } from "./allocation.js";

export type { InquiryData, InquiryDataInput } from "./inquiry.js";
export {
  PeripheralDeviceType,
  PeripheralQualifier,
  STANDARD_INQUIRY_MIN_LENGTH,
  buildInquiryData,
  inquiryVersionName,
  parseInquiryData,
  peripheralDeviceTypeName,
  peripheralQualifierName,
} from "./inquiry.js";

export type {
  BlockDeviceCharacteristics,
  BlockDeviceCharacteristicsPage,
  BlockLimits,
  BlockLimitsPage,
  LogicalBlockProvisioning,
  LogicalBlockProvisioningPage,
  SupportedVpdPages,
  UnitSerialNumberPage,
  VpdHeader,
  VpdHeaderInput,
} from "./vpd.js";
export {
  ProvisioningType,
  VpdPage,
  buildBlockDeviceCharacteristicsPage,
  buildBlockLimitsPage,
  buildLogicalBlockProvisioningPage,
  buildSupportedVpdPages,
  buildUnitSerialNumberPage,
  formFactorName,
  parseBlockDeviceCharacteristicsPage,
  parseBlockLimitsPage,
  parseLogicalBlockProvisioningPage,
  parseSupportedVpdPages,
  parseUnitSerialNumberPage,
  parseVpdHeader,
  provisioningTypeName,
  rotationRateName,
  vpdPageName,
} from "./vpd.js";

export type {
  Designator,
  DesignatorInput,
  DesignatorValue,
  DesignatorValueInput,
  DeviceIdentificationPage,
} from "./vpd-device-id.js";
export {
  Association,
  CodeSet,
  DesignatorType,
  ProtocolIdentifier,
  associationName,
  buildDeviceIdentificationPage,
  codeSetName,
  designatorTypeName,
  parseDeviceIdentificationPage,
  protocolIdentifierName,
} from "./vpd-device-id.js";

export type { ReadCapacity10Data, ReadCapacity16Data } from "./capacity.js";
export {
  buildReadCapacity10Data,
  buildReadCapacity16Data,
  parseReadCapacity10Data,
  parseReadCapacity16Data,
} from "./capacity.js";

export type { LunEntry, ReportLunsData } from "./report-luns.js";
export { LunAddressMethod, buildReportLunsData, decodeLun, encodeLun, parseReportLunsData } from "./report-luns.js";

export type {
  CachingPage,
  ControlPage,
  InformationalExceptionsPage,
  ModePage,
  ModePageInput,
} from "./mode-pages.js";
export {
  ALL_SUBPAGES,
  ModePageCode,
  PageControl,
  decodeCachingPage,
  decodeControlPage,
  decodeInformationalExceptionsPage,
  decodeModePages,
  encodeCachingPage,
  encodeControlPage,
  encodeInformationalExceptionsPage,
  encodeModePage,
} from "./mode-pages.js";
export type { BlockDescriptor, ModeSenseData, ModeSenseDataInput } from "./mode-sense.js";
export {
  buildModeSense10Data,
  buildModeSense6Data,
  findModePage,
  parseModeSense10Data,
  parseModeSense6Data,
} from "./mode-sense.js";

export type {
  FullStatusDescriptor,
  ParsedPrOutParameters,
  PrOutParameters,
  ReadFullStatusData,
  ReadKeysData,
  ReadReservationData,
  ReportCapabilitiesData,
  Reservation,
} from "./persistent-reservation.js";
export {
  PR_TYPE_NAMES,
  PrInServiceAction,
  PrOutServiceAction,
  PrType,
  buildPrOutParameterList,
  buildReadFullStatusData,
  buildReadKeysData,
  buildReadReservationData,
  buildReportCapabilitiesData,
  isPrType,
  parsePrOutParameterList,
  parseReadFullStatusData,
  parseReadKeysData,
  parseReadReservationData,
  parseReportCapabilitiesData,
  prTypeName,
} from "./persistent-reservation.js";

export type { UnmapDescriptor, UnmapParameterList } from "./unmap.js";
export { MAX_UNMAP_DESCRIPTORS, buildUnmapParameterList, parseUnmapParameterList } from "./unmap.js";

export type { InvalidParameterList } from "./parameter-list.js";
export { INVALID_FIELD_IN_PARAMETER_LIST, PARAMETER_LIST_LENGTH_ERROR } from "./parameter-list.js";

export type { DecodedSense, SenseDescriptor, SenseFormat, SenseInput, SenseKeySpecific } from "./sense.js";
export {
  SenseDescriptorType,
  buildDescriptorSense,
  buildFixedSense,
  buildInvalidFieldSense,
  buildSense,
  decodeSense,
  describeSense,
  toSenseSummary,
} from "./sense.js";
export { ASC_TABLE_SIZE, ascText, describeAsc } from "./asc-table.js";
export { versionDescriptorName } from "./version-descriptors.js";
