//! OIDs, XDS UUIDs and fixed codes (`specs/codes/oids.csv`, `xds_ebrim_uuids.csv`).

use crate::catalogue::StaticCode;

/// LOINC.
pub const LOINC: &str = "2.16.840.1.113883.6.1";
/// TRE_A05 TypeDocComplementaire.
pub const TRE_A05: &str = "1.2.250.1.213.1.1.4.12";
/// TRE_A03 ClasseDocument (classCode).
pub const TRE_A03: &str = "1.2.250.1.213.1.1.4.1";
/// HL7 Confidentiality.
pub const HL7_CONFIDENTIALITY: &str = "2.16.840.1.113883.5.25";
/// TRE_A07 StatutVisibiliteDocument.
pub const TRE_A07: &str = "1.2.250.1.213.1.1.4.13";
/// HL7 AdministrativeGender.
pub const HL7_GENDER: &str = "2.16.840.1.113883.5.1";
/// PS_IdNat root (persons and systems).
pub const PS_IDNAT: &str = "1.2.250.1.71.4.2.1";
/// Struct_IdNat root.
pub const STRUCT_IDNAT: &str = "1.2.250.1.71.4.2.2";
/// TRE_R02 SecteurActivite (healthcareFacilityTypeCode).
pub const TRE_R02: &str = "1.2.250.1.71.4.2.4";
/// TRE_A01 CadreExercice (practiceSettingCode).
pub const TRE_A01: &str = "1.2.250.1.213.1.1.4.9";
/// TRE_A02 ProfessionSavFaire CI-SIS (author specialty for health professionals).
pub const TRE_A02: &str = "1.2.250.1.213.1.1.4.5";
/// TRE_G15 ProfessionSante as carried by the DUI (`Person.professions`).
pub const TRE_G15: &str = "1.2.250.1.71.1.2.7";
/// INS-NIR, INS-NIA, test and demo roots.
pub const INS_ROOTS: [&str; 4] = [
    "1.2.250.1.213.1.4.8",
    "1.2.250.1.213.1.4.9",
    "1.2.250.1.213.1.4.10",
    "1.2.250.1.213.1.4.11",
];
/// INS-NIA root (CX type stays NH).
pub const INS_NIA: &str = "1.2.250.1.213.1.4.9";

/// CDA templateIds of an N1 document with a PDF nonXMLBody.
pub const TEMPLATE_HL7_FRANCE: &str = "2.16.840.1.113883.2.8.2.1";
/// CI-SIS conformity templateId.
pub const TEMPLATE_CI_SIS: &str = "1.2.250.1.213.1.1.1.1";
/// IHE XDS-SD templateId.
pub const TEMPLATE_XDS_SD: &str = "1.3.6.1.4.1.19376.1.2.20";

/// Confidentiality N.
pub const CONF_N: StaticCode = StaticCode {
    code: "N",
    display: "Normal",
    system: HL7_CONFIDENTIALITY,
};
/// Confidentiality R.
pub const CONF_R: StaticCode = StaticCode {
    code: "R",
    display: "Restreint",
    system: HL7_CONFIDENTIALITY,
};
/// Confidentiality V.
pub const CONF_V: StaticCode = StaticCode {
    code: "V",
    display: "Très restreint",
    system: HL7_CONFIDENTIALITY,
};
/// A07 MASQUE_PS.
pub const MASQUE_PS: StaticCode = StaticCode {
    code: "MASQUE_PS",
    display: "Masqué aux professionnels de santé",
    system: TRE_A07,
};
/// A07 INVISIBLE_PATIENT.
pub const INVISIBLE_PATIENT: StaticCode = StaticCode {
    code: "INVISIBLE_PATIENT",
    display: "Non visible par le patient",
    system: TRE_A07,
};
/// A07 INVISIBLE_REPRESENTANTS_LEGAUX.
pub const INVISIBLE_REPRESENTANTS_LEGAUX: StaticCode = StaticCode {
    code: "INVISIBLE_REPRESENTANTS_LEGAUX",
    display: "Non visible par les représentants légaux du patient",
    system: TRE_A07,
};

/// ebRIM / XDS UUIDs.
pub mod xds {
    /// SubmissionSet classification node.
    pub const SUBMISSION_SET_NODE: &str = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd";
    /// SubmissionSet.author.
    pub const SS_AUTHOR: &str = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d";
    /// SubmissionSet.contentTypeCode.
    pub const SS_CONTENT_TYPE: &str = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500";
    /// SubmissionSet.patientId.
    pub const SS_PATIENT_ID: &str = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446";
    /// SubmissionSet.sourceId.
    pub const SS_SOURCE_ID: &str = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832";
    /// SubmissionSet.uniqueId.
    pub const SS_UNIQUE_ID: &str = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8";
    /// DocumentEntry objectType (stable).
    pub const DE_OBJECT_TYPE: &str = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1";
    /// DocumentEntry.author.
    pub const DE_AUTHOR: &str = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d";
    /// DocumentEntry.classCode.
    pub const DE_CLASS: &str = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a";
    /// DocumentEntry.confidentialityCode.
    pub const DE_CONFIDENTIALITY: &str = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f";
    /// DocumentEntry.eventCodeList.
    pub const DE_EVENT: &str = "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4";
    /// DocumentEntry.formatCode.
    pub const DE_FORMAT: &str = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d";
    /// DocumentEntry.healthCareFacilityTypeCode.
    pub const DE_FACILITY: &str = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1";
    /// DocumentEntry.patientId.
    pub const DE_PATIENT_ID: &str = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427";
    /// DocumentEntry.practiceSettingCode.
    pub const DE_PRACTICE: &str = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead";
    /// DocumentEntry.typeCode.
    pub const DE_TYPE: &str = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983";
    /// DocumentEntry.uniqueId.
    pub const DE_UNIQUE_ID: &str = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab";
    /// HasMember association.
    pub const ASSOC_HAS_MEMBER: &str = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember";
    /// RPLC association.
    pub const ASSOC_RPLC: &str = "urn:ihe:iti:2007:AssociationType:RPLC";
    /// signs association.
    pub const ASSOC_SIGNS: &str = "urn:ihe:iti:2007:AssociationType:signs";
    /// ebRIM 3.0 namespaces.
    pub const NS_LCM: &str = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0";
    /// rim 3.0.
    pub const NS_RIM: &str = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0";
    /// RegistryPackage objectType.
    pub const REGISTRY_PACKAGE_TYPE: &str =
        "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:RegistryPackage";
    /// Classification objectType.
    pub const CLASSIFICATION_TYPE: &str =
        "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification";
    /// ExternalIdentifier objectType.
    pub const EXTERNAL_IDENTIFIER_TYPE: &str =
        "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:ExternalIdentifier";
    /// Limited Metadata markers (accepted by the reader).
    pub const LIMITED_METADATA: [&str; 2] = [
        "urn:uuid:5003a9db-8d8d-49e6-bf0c-990e34ac7707",
        "urn:uuid:ab9b591b-83ab-4d03-8f5d-f93b1fb92e85",
    ];
}
