"""Sealing against the raw limits, measured in one run.

- PDF: certlib's `SealApplier.apply_pdf` (policy check, PAdES signature with the seal
  picture as a visible stamp, use recorded with its audit record) against pyHanko signing
  the same PDF with the same HSM key, the same stamp and the same reserved container size
  directly (`PKCS11Signer`, raw CKM_ECDSA), with nothing recorded; pyHanko's default
  (a dry-run signature to size the container) is printed for reference;
- OFD: `apply_ofd` (a GB/T 38540 seal, SM2 key wrapped by the HSM) and `verify_ofd`, against
  the raw SM2 signature of the same key;
- raw data: `apply_data` (a detached SES signature).
"""

from __future__ import annotations

import io

from asn1crypto import x509
from PIL import Image
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.pkcs11 import PKCS11Signer
from pyhanko.stamp import StaticStampStyle

from bench.common import interleaved, rate, temporary_settings
from certlib.audit import Actor
from certlib.keys import token_config
from certlib.ofd import verify_ofd
from certlib.platform import open_platform
from certlib.render import render_certificate_pdf
from certlib.seals import Placement, SealPolicy
from hsm.session import TokenSession
from tests.ses_support import minimal_ofd

PDFS = 20
OFDS = 60


def main() -> None:
    """Run the benchmark and print its figures."""
    settings = temporary_settings()
    platform = open_platform(settings)
    platform.authority.init_region("630000", "青海省政务服务平台")
    actor = Actor.local()
    seal = platform.seals.create(owner_uscc="11630100MB0000011Y", owner_name="西宁市示例局",
                                 region_code="630000", name="公章",
                                 policy=SealPolicy((actor.label,)))
    letter = render_certificate_pdf("公函", "Letter", [("事由", "示例"), ("盖章处", "（盖章）")],
                                    identifier="示例", issuer="西宁市示例局", qr_payload=None)
    region = platform.authority.region("630000")
    key = platform.keystore.get(seal.pdf_key_name)
    token = TokenSession(token_config(settings))
    session = token.run(lambda opened: opened)
    direct = PKCS11Signer(session, key_label=key.label,
                          signing_cert=x509.Certificate.load(seal.pdf_certificate),
                          ca_chain=[x509.Certificate.load(region.issuing_certificate)],
                          use_raw_mechanism=True)
    picture = Image.open(io.BytesIO(seal.picture))
    picture.load()
    box = (57, 57, 176, 176)  # the same 42 mm square as Placement(0, 20, 20)

    # certlib reserves a computed size for the signature container instead of letting
    # pyHanko make a dry-run signature to measure it; the baseline gets the same reserve.
    reserve = 6144 + 2 * (len(seal.pdf_certificate) + len(region.issuing_certificate))

    def pyhanko_sign(_: int, bytes_reserved: int | None = reserve) -> bytes:
        writer = IncrementalPdfFileWriter(io.BytesIO(letter))
        signer = signers.PdfSigner(
            signers.PdfSignatureMetadata(field_name="Seal", md_algorithm="sha256",
                                         subfilter=fields.SigSeedSubFilter.PADES),
            direct, stamp_style=StaticStampStyle(background=PdfImage(picture), border_width=0),
            new_field_spec=fields.SigFieldSpec(sig_field_name="Seal", on_page=0, box=box))
        return bytes(signer.sign_pdf(writer, bytes_reserved=bytes_reserved).getvalue())

    def certlib_seal(_: int) -> object:
        return platform.sealer.apply_pdf(seal.es_id, letter, actor=actor, purpose="bench",
                                         placement=Placement(0, 20, 20))

    pyhanko_rate, certlib_rate = interleaved(pyhanko_sign, certlib_seal, PDFS, rounds=3)
    default_rate = rate(lambda i: pyhanko_sign(i, None), PDFS)
    print(f"pyHanko PKCS11Signer, default dry-run sizing: {default_rate:7.1f} PDF/s "
          f"({1000 / default_rate:.1f} ms)")
    print(f"pyHanko PKCS11Signer, same key, stamp, reserve: {pyhanko_rate:5.1f} PDF/s "
          f"({1000 / pyhanko_rate:.1f} ms)")
    print(f"certlib apply_pdf (policy, stamp, use):       {certlib_rate:7.1f} PDF/s "
          f"({1000 / certlib_rate:.1f} ms)")

    sm2 = platform.keystore.get(seal.ses_key_name)
    raw_sm2 = rate(lambda i: platform.keystore.sign(sm2, b"%d" % i), OFDS * 3)
    ofd = minimal_ofd(pages=2)
    ofd_rate = rate(lambda _: platform.sealer.apply_ofd(seal.es_id, ofd, actor=actor,
                                                        purpose="bench"), OFDS)
    sealed = platform.sealer.apply_ofd(seal.es_id, ofd, actor=actor, purpose="bench").data
    trust = platform.trust_material()
    assert verify_ofd(sealed, trust=trust).passed
    verify_rate = rate(lambda _: verify_ofd(sealed, trust=trust), OFDS)
    data_rate = rate(lambda i: platform.sealer.apply_data(seal.es_id, b"%d" % i, actor=actor,
                                                         purpose="bench"), OFDS)
    print(f"raw SM2 sign (HSM-wrapped key):           {raw_sm2:7.1f}/s")
    print(f"certlib apply_ofd (2-page OFD):           {ofd_rate:7.1f}/s")
    print(f"certlib verify_ofd (with trust anchors):  {verify_rate:7.1f}/s")
    print(f"certlib apply_data (detached SES):        {data_rate:7.1f}/s")
    platform.close()
    token.close()
    print(f"ratio certlib/pyhanko: {certlib_rate / pyhanko_rate:.2f}")
    print(f"ratio ofd-seal/raw-sm2-sign: {ofd_rate / raw_sm2:.2f}")


if __name__ == "__main__":
    main()
