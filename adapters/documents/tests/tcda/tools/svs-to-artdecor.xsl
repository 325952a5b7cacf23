<?xml version="1.0" encoding="UTF-8"?>
<!-- Converts an ANS SVS value set (jeuxDeValeurs/JDV_*.xml) into the ART-DECOR layout that the
     structuration-minimale schematron reads with doc('include/voc-<oid>-DYNAMIC.xml'). -->
<xsl:stylesheet version="2.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:svs="urn:ihe:iti:svs:2008" exclude-result-prefixes="svs">
  <xsl:output method="xml" indent="yes" encoding="UTF-8"/>
  <xsl:template match="/">
    <xsl:variable name="vs" select="/svs:RetrieveValueSetResponse/svs:ValueSet"/>
    <valueSets xmlns="urn:hl7-org:v3">
      <valueSet xmlns="" id="{$vs/@id}" name="{replace($vs/@displayName, '\.tabs$', '')}"
          displayName="{replace($vs/@displayName, '\.tabs$', '')}" versionLabel="{$vs/@dateMaj}" statusCode="final">
        <conceptList>
          <xsl:for-each select="$vs/svs:ConceptList/svs:Concept">
            <concept code="{@code}" codeSystem="{@codeSystem}" displayName="{@displayName}" level="0" type="L"/>
          </xsl:for-each>
        </conceptList>
      </valueSet>
    </valueSets>
  </xsl:template>
</xsl:stylesheet>
