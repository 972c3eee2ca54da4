from __future__ import annotations


def test_customer_signs_in_and_sees_own_invoices(portal):
    client = portal.signed_in("customer_a")
    page = client.get("/invoices")
    assert page.status_code == 200, page.text
    assert portal.world.numbers["A1"] in page.text
    assert portal.world.numbers["B1"] not in page.text
    for key in ("A1", "A2"):
        page = client.get(f"/invoices/{portal.world.invoices[key]}")
        assert page.status_code == 200, page.text
    page = client.get("/statement")
    assert page.status_code == 200, page.text
    staff = portal.signed_in("admin")
    for path in (
        "/staff/invoices",
        "/staff/customers",
        f"/staff/customers/{portal.world.parties['A']}",
        f"/staff/invoices/{portal.world.invoices['A2']}",
    ):
        page = staff.get(path)
        assert page.status_code == 200, page.text
